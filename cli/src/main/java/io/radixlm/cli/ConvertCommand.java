package io.radixlm.cli;

import io.radixlm.convert.Bf16Converter;
import io.radixlm.convert.Llama2cConverter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Converters from other checkpoint formats into a Hugging Face model directory. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a checkpoint of another format into a Hugging Face model directory.",
        subcommands = {ConvertCommand.Llama2c.class, ConvertCommand.Bf16.class})
final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "missing the format, e.g. 'convert llama2c'");
    }

    @Command(name = "llama2c", mixinStandardHelpOptions = true,
            description = "Convert a llama2.c checkpoint (.bin) and tokenizer.bin into config.json, "
                    + "model.safetensors and tokenizer.json.")
    static final class Llama2c implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--checkpoint", paramLabel = "F", required = true, description = "llama2.c checkpoint, e.g. stories15M.bin.")
        Path checkpoint;

        @Option(names = "--tokenizer", paramLabel = "F", required = true, description = "llama2.c tokenizer.bin.")
        Path tokenizer;

        @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output model directory.")
        Path out;

        @Override
        public Integer call() throws IOException {
            requireFile(checkpoint, "--checkpoint");
            requireFile(tokenizer, "--tokenizer");
            Llama2cConverter.convert(checkpoint, tokenizer, out, Progress.to(spec.commandLine().getErr()));
            return 0;
        }

        private static void requireFile(Path file, String flag) {
            if (!Files.isRegularFile(file)) throw new UserException(flag + ": file not found: " + file);
        }
    }

    @Command(name = "bf16", mixinStandardHelpOptions = true,
            description = "Rewrite a model directory with bf16 tensors (half the size of float32; what the CUDA "
                    + "backend uses). Config, tokenizer and chat template are copied.")
    static final class Bf16 implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--model", paramLabel = "DIR", required = true, description = "Model directory to convert.")
        Path model;

        @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output model directory.")
        Path out;

        @Override
        public Integer call() throws IOException {
            if (!Files.isDirectory(model)) throw new UserException("--model: directory not found: " + model);
            Bf16Converter.convert(model, out, Progress.to(spec.commandLine().getErr()));
            return 0;
        }
    }
}
