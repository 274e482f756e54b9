package io.radixlm.cli;

import io.radixlm.engine.LoadedModel;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.ModelStats;
import io.radixlm.model.RopeConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Architecture, size and KV-cache cost of a model: what it takes to serve it. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show a model's architecture, parameter count and KV-cache size.",
                "KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x bytes per element."})
final class InfoCommand implements Callable<Integer> {
    private static final int BF16_BYTES = 2;
    private static final int F32_BYTES = 4;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "Model directory. Default: the installed stories15M.")
    Path model;

    @Option(names = "--context", paramLabel = "N",
            description = "Tokens per sequence for the KV memory figure. Default: max_position_embeddings.")
    Integer context;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "1",
            description = "Sequences for the KV memory figure. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Override
    public Integer call() throws IOException {
        if (context != null && context < 1) throw new UserException("--context must be at least 1, got " + context);
        if (batch < 1) throw new UserException("--batch must be at least 1, got " + batch);
        PrintWriter out = spec.commandLine().getOut();
        ModelOptions options = new ModelOptions();
        options.model = model;
        try (LoadedModel loaded = options.load(spec.commandLine().getErr())) {
            ModelConfig c = loaded.config();
            ModelStats bf16 = ModelStats.of(c, loaded.weights(), BF16_BYTES);
            ModelStats f32 = ModelStats.of(c, loaded.weights(), F32_BYTES);
            int numTokens = context != null ? context : c.maxPositionEmbeddings();
            out.println("model:           " + loaded.dir());
            out.println("architecture:    " + c.modelType() + features(c));
            out.printf(Locale.ROOT, "shape:           %d layers, hidden %d, intermediate %d, %d heads, %d kv heads "
                            + "(group %d), head_dim %d, vocab %d, context %d%n", c.numLayers(), c.hiddenSize(),
                    c.intermediateSize(), c.numHeads(), c.numKvHeads(), c.groupSize(), c.headDim(), c.vocabSize(),
                    c.maxPositionEmbeddings());
            out.println("rope:            " + rope(c.rope()));
            out.printf(Locale.ROOT, "parameters:      %,d (%s)%n", bf16.parameterCount(), human(bf16.parameterCount()));
            out.printf(Locale.ROOT, "KV bytes/token:  %,d (bf16), %,d (float32)   = 2 x %d layers x %d kv_heads x %d head_dim x bytes%n",
                    bf16.kvBytesPerToken(), f32.kvBytesPerToken(), c.numLayers(), c.numKvHeads(), c.headDim());
            out.printf(Locale.ROOT, "KV memory:       %s (bf16), %s (float32) for %d tokens x batch %d%n",
                    bytes(bf16.kvBytes(numTokens, batch)), bytes(f32.kvBytes(numTokens, batch)), numTokens, batch);
            out.flush();
        }
        return 0;
    }

    private static String features(ModelConfig c) {
        List<String> features = new ArrayList<>();
        if (c.numKvHeads() < c.numHeads()) features.add("GQA");
        if (c.tieWordEmbeddings()) features.add("tied embeddings");
        if (c.attentionBias()) features.add("q/k/v bias");
        if (c.qkNorm()) features.add("q/k RMSNorm");
        if (c.torchDtype() != null) features.add("checkpoint " + c.torchDtype());
        return features.isEmpty() ? "" : " (" + String.join(", ", features) + ")";
    }

    private static String rope(RopeConfig r) {
        String base = String.format(Locale.ROOT, "%s, theta %s", r.type(), r.theta());
        if (!r.type().equals("llama3")) return base;
        return base + String.format(Locale.ROOT, ", factor %s, low/high freq factor %s/%s, original context %d",
                r.factor(), r.lowFreqFactor(), r.highFreqFactor(), r.originalMaxPositionEmbeddings());
    }

    private static String human(long count) {
        if (count >= 1_000_000_000L) return String.format(Locale.ROOT, "%.2f B", count / 1e9);
        if (count >= 1_000_000L) return String.format(Locale.ROOT, "%.2f M", count / 1e6);
        return String.format(Locale.ROOT, "%.2f K", count / 1e3);
    }

    private static String bytes(long n) {
        if (n >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        if (n >= 1L << 20) return String.format(Locale.ROOT, "%.2f MiB", n / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.2f KiB", n / 1024.0);
    }
}
