package io.radixlm.cli;

import io.radixlm.engine.LlmEngine;
import io.radixlm.engine.LoadedModel;
import io.radixlm.engine.NpyWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Logits of every prompt position as a NumPy file, for comparison with reference implementations. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Write the float32 logits [positions, vocab] of a prompt to a NumPy .npy file.")
final class LogitsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt-ids", paramLabel = "1,2,3", required = true, converter = PromptIds.Converter.class,
            description = "The prompt as token ids, used exactly as given (no BOS added).")
    PromptIds promptIds;

    @Option(names = "--out", paramLabel = "FILE.npy", required = true, description = "Where to write the logits.")
    Path out;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        if (modelOptions.model == null) throw new UserException("logits needs --model DIR");
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null && !java.nio.file.Files.isDirectory(parent)) {
            throw new UserException("cannot write " + out + ": directory " + parent + " does not exist");
        }
        try (LoadedModel model = modelOptions.load(err)) {
            int[] ids = promptIds.ids();
            PromptIds.requireFits(ids, model.config(), "the prompt");
            try (LlmEngine engine = modelOptions.openEngine(model, err)) {
                float[] logits = engine.promptLogits(ids); // (ids.length, vocab)
                int vocab = model.config().vocabSize();
                NpyWriter.write(out, logits, ids.length, vocab);
                err.println("wrote float32 logits (" + ids.length + ", " + vocab + ") to " + out);
                err.flush();
            }
        }
        return 0;
    }
}
