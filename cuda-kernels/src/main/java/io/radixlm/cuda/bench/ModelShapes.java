package io.radixlm.cuda.bench;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.RopeConfig;

import java.util.List;
import java.util.Map;

/**
 * The model shapes radixlm is benchmarked on, typed from the models' public config.json files; the
 * benchmark fills them with random bf16 weights on the GPU, so no weight file is needed.
 */
public final class ModelShapes {
    public static final String LLAMA_1B = "Llama-3.2-1B";
    public static final String LLAMA_8B = "Llama-3.1-8B";
    public static final String QWEN3_06B = "Qwen3-0.6B";

    private ModelShapes() { }

    /** meta-llama/Llama-3.2-1B: tied embeddings, GQA 32/8, head_dim 64, llama3 rope (factor 32). */
    public static ModelConfig llama32_1b() {
        return new ModelConfig("llama", 2048, 8192, 16, 32, 8, 64, 128256, 131072, 1e-5,
                new RopeConfig("llama3", 500000, 32, 1, 4, 8192), true, false, false, 128000, List.of(128001), "bfloat16");
    }

    /** meta-llama/Llama-3.1-8B: untied LM head, GQA 32/8, head_dim 128, llama3 rope (factor 8). */
    public static ModelConfig llama31_8b() {
        return new ModelConfig("llama", 4096, 14336, 32, 32, 8, 128, 128256, 131072, 1e-5,
                new RopeConfig("llama3", 500000, 8, 1, 4, 8192), false, false, false, 128000, List.of(128001), "bfloat16");
    }

    /** Qwen/Qwen3-0.6B: per-head q/k RMSNorm, head_dim 128 (> hidden / heads), GQA 16/8, tied embeddings. */
    public static ModelConfig qwen3_06b() {
        return new ModelConfig("qwen3", 1024, 3072, 28, 16, 8, 128, 151936, 40960, 1e-6,
                RopeConfig.defaultRope(1000000), true, false, true, 151643, List.of(151645), "bfloat16");
    }

    /** Every shape by name, in the order the benchmark runs them. */
    public static Map<String, ModelConfig> all() {
        return java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(Map.of(
                LLAMA_1B, llama32_1b(), LLAMA_8B, llama31_8b(), QWEN3_06B, qwen3_06b())));
    }

    public static ModelConfig byName(String name) {
        return switch (name) {
            case LLAMA_1B -> llama32_1b();
            case LLAMA_8B -> llama31_8b();
            case QWEN3_06B -> qwen3_06b();
            default -> throw new IllegalArgumentException("unknown model shape " + name);
        };
    }

    public static List<String> names() { return List.of(LLAMA_1B, LLAMA_8B, QWEN3_06B); }
}
