package io.radixlm.cli;

import io.radixlm.convert.ModelInstaller;
import io.radixlm.cuda.BackendChooser;
import io.radixlm.engine.EngineOptions;
import io.radixlm.engine.LlmEngine;
import io.radixlm.engine.LoadedModel;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/** --model and --backend, shared by the commands that run a model. */
final class ModelOptions {
    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face model directory (config.json, safetensors, tokenizer.json). "
                    + "Default: stories15M, installed on first use into $RADIXLM_HOME or ~/.cache/radixlm.")
    Path model;

    @Option(names = "--backend", paramLabel = "auto|cpu|cuda", defaultValue = "auto",
            description = "Where to run: cuda, cpu (float32 reference), or auto (CUDA when usable, else CPU). "
                    + "Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--gpu-memory-fraction", paramLabel = "F", defaultValue = "0.9",
            description = "Share of the GPU's memory radixlm may use for weights, KV pages and activations; "
                    + "the KV pool gets what the weights leave. Default: ${DEFAULT-VALUE}.")
    double gpuMemoryFraction;

    /** The model directory: --model, or the default model (installed now if needed, with progress on err). */
    Path resolveModelDir(PrintWriter err) throws IOException {
        if (model != null) return model;
        return ModelInstaller.ensureStories15M(ModelInstaller.defaultHome(), Progress.to(err));
    }

    LoadedModel load(PrintWriter err) throws IOException {
        return LoadedModel.load(resolveModelDir(err), Progress.to(err));
    }

    /** An engine on the chosen backend; the engine owns the backend, the caller still owns model. */
    LlmEngine openEngine(LoadedModel loaded, PrintWriter err) {
        if (!(gpuMemoryFraction > 0 && gpuMemoryFraction <= 1)) {
            throw new UserException("--gpu-memory-fraction must be in (0, 1], got " + gpuMemoryFraction);
        }
        return new LlmEngine(BackendChooser.create(backend, loaded, gpuMemoryFraction, Progress.to(err)), loaded.tokenizer(),
                loaded.eosTokenIds(), EngineOptions.defaults());
    }
}
