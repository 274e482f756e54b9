package io.radixlm.cuda;

import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.DType;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.ModelFormatException;
import io.radixlm.model.RopeConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.model.TensorNames;
import io.radixlm.model.WeightSource;
import io.radixlm.testing.Golden;
import io.radixlm.testing.NpyArray;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CudaBackend with the prefill traffic cut on (o/down accumulated into the residual; gate/up bf16 as well when
 * the JVM runs with -Dradixlm.bf16GateUp=true) and off, in one JVM: prefill logits of the golden models against
 * transformers, decode at batch 2 (cuBLAS, a replayed graph) against the CPU backend, and a random model with an
 * o_proj bias and intermediate % 8 != 0 (the bias then goes into the residual) against the CPU backend.
 */
@Tag("gpu")
class PrefillTrafficBackendGpuTest {
    private static final int PAGE_SIZE = 16;
    private static final double BF16_LOGITS_TOLERANCE = 1e-2;

    static Stream<Arguments> modelsAndLengths() {
        return Golden.MODEL_NAMES.stream()
                .flatMap(m -> Golden.SEQUENCE_LENGTHS.stream().map(len -> Arguments.of(m, len)));
    }

    @ParameterizedTest(name = "{0}, {1} tokens")
    @MethodSource("modelsAndLengths")
    void prefillLogitsMatchTransformersWithTheCutOnAndOff(String model, int length) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(length).ids();
        NpyArray reference = Golden.referenceLogits(model, length);
        ForwardBatch batch = batch(new int[][] {ids}, new int[] {0}, new int[] {length}, new int[] {0});
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.allocateKvCache(64, PAGE_SIZE);
            gpu.setPrefillTrafficCut(true);
            float[] cut = gpu.forward(batch);
            gpu.setPrefillTrafficCut(false);
            float[] plain = gpu.forward(batch);
            double errorCut = Golden.relativeError(cut, reference.data());
            double errorPlain = Golden.relativeError(plain, reference.data());
            System.err.printf("[gpu-test] %s len %d vs transformers: cut %.2e, plain %.2e, cut vs plain %.2e%n",
                    model, length, errorCut, errorPlain, Golden.relativeError(cut, plain));
            assertTrue(errorCut <= BF16_LOGITS_TOLERANCE, "with the cut: relative error " + errorCut);
            assertTrue(errorPlain <= BF16_LOGITS_TOLERANCE, "without the cut: relative error " + errorPlain);
        }
    }

    /** Two sequences prefilled (33 and 20 tokens), then 4 decode steps of both in one batch (graph bucket 2). */
    @Test
    void batchedDecodeMatchesTheCpuBackendWithTheCutOnAndOff() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[][] ids = {Golden.modelReference(model).sequence(300).ids(), Golden.modelReference(model).sequence(33).ids()};
        int[] prompt = {33, 20};
        int[] firstPage = {0, 10};
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CpuBackend cpu = new CpuBackend(config, weights)) {
            cpu.allocateKvCache(64, PAGE_SIZE);
            float[][] expected = new float[5][];
            for (int step = 0; step < 5; step++) expected[step] = cpu.forward(step(ids, prompt, firstPage, step));
            for (boolean cut : new boolean[] {true, false}) {
                try (CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
                    gpu.setPrefillTrafficCut(cut);
                    gpu.allocateKvCache(64, PAGE_SIZE);
                    for (int step = 0; step < 5; step++) {
                        double error = Golden.relativeError(gpu.forward(step(ids, prompt, firstPage, step)), expected[step]);
                        System.err.printf("[gpu-test] %s batch-2 %s, cut %s: rel. error %.2e vs CPU%n",
                                model, step == 0 ? "prefill" : "decode step " + step, cut, error);
                        assertTrue(error <= BF16_LOGITS_TOLERANCE, "step " + step + ", cut " + cut + ": relative error " + error);
                    }
                }
            }
        }
    }

    /** A qwen3-shaped model with attention_bias (so an o_proj bias) and intermediate 516, prefilled in one chunk of 40. */
    @Test
    void outputBiasAndOddIntermediateMatchTheCpuBackend() {
        GpuTestSupport.device();
        ModelConfig config = new ModelConfig("qwen3", 256, 516, 2, 4, 2, 64, 300, 512, 1e-6,
                RopeConfig.defaultRope(10000), false, true, true, 1, List.of(2), "bfloat16");
        assertTrue(TensorNames.hasOutputBias(config));
        int[] ids = new Random(5).ints(40, 0, config.vocabSize()).toArray();
        ForwardBatch batch = batch(new int[][] {ids}, new int[] {0}, new int[] {ids.length}, new int[] {0});
        try (RandomWeights weights = RandomWeights.of(config, 11); CpuBackend cpu = new CpuBackend(config, weights);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            cpu.allocateKvCache(16, PAGE_SIZE);
            gpu.allocateKvCache(16, PAGE_SIZE);
            float[] expected = cpu.forward(batch);
            gpu.setPrefillTrafficCut(true);
            float[] cut = gpu.forward(batch);
            gpu.setPrefillTrafficCut(false);
            float[] plain = gpu.forward(batch);
            double errorCut = Golden.relativeError(cut, expected);
            double errorPlain = Golden.relativeError(plain, expected);
            System.err.printf("[gpu-test] o_proj bias, intermediate 516 vs CPU: cut %.2e, plain %.2e, cut vs plain %.2e%n",
                    errorCut, errorPlain, Golden.relativeError(cut, plain));
            assertTrue(errorCut <= BF16_LOGITS_TOLERANCE, "with the cut: relative error " + errorCut);
            assertTrue(errorPlain <= BF16_LOGITS_TOLERANCE, "without the cut: relative error " + errorPlain);
        }
    }

    /** Step 0: the prompts; step k > 0: one token of each sequence after prompt + k − 1. Every row's logits. */
    private static ForwardBatch step(int[][] ids, int[] prompt, int[] firstPage, int step) {
        int n = ids.length;
        int[] from = new int[n];
        int[] count = new int[n];
        for (int s = 0; s < n; s++) {
            from[s] = step == 0 ? 0 : prompt[s] + step - 1;
            count[s] = step == 0 ? prompt[s] : 1;
        }
        return batch(ids, from, count, firstPage);
    }

    /** Sequence s brings tokens [from[s], from[s] + count[s]) of ids[s], on pages firstPage[s], firstPage[s] + 1, ... */
    private static ForwardBatch batch(int[][] ids, int[] from, int[] count, int[] firstPage) {
        ForwardBatchBuilder builder = new ForwardBatchBuilder(PAGE_SIZE);
        for (int s = 0; s < ids.length; s++) {
            int length = from[s] + count[s];
            int[] pages = ForwardBatchBuilder.consecutivePages(firstPage[s], ForwardBatchBuilder.pagesFor(length, PAGE_SIZE));
            builder.addChunk(ids[s], from[s], length, pages);
        }
        return builder.buildAllRows();
    }

    /** Random weights for every tensor config needs, already bf16-representable so that CPU and GPU see the same. */
    private static final class RandomWeights implements WeightSource {
        private final Map<String, long[]> shapes = new HashMap<>();
        private final Map<String, float[]> values = new HashMap<>();

        static RandomWeights of(ModelConfig c, long seed) {
            Random random = new Random(seed);
            RandomWeights w = new RandomWeights();
            int h = c.hiddenSize();
            w.put(random, TensorNames.embedTokens(), 1f, 0f, c.vocabSize(), h);
            for (int l = 0; l < c.numLayers(); l++) {
                w.put(random, TensorNames.layer(l, "input_layernorm.weight"), 0.2f, 1f, h);
                w.put(random, TensorNames.layer(l, "post_attention_layernorm.weight"), 0.2f, 1f, h);
                w.linear(random, l, "self_attn.q_proj", h, c.qDim(), true);
                w.linear(random, l, "self_attn.k_proj", h, c.kvDim(), true);
                w.linear(random, l, "self_attn.v_proj", h, c.kvDim(), true);
                w.linear(random, l, "self_attn.o_proj", c.qDim(), h, true);
                w.put(random, TensorNames.layer(l, "self_attn.q_norm.weight"), 0.2f, 1f, c.headDim());
                w.put(random, TensorNames.layer(l, "self_attn.k_norm.weight"), 0.2f, 1f, c.headDim());
                w.linear(random, l, "mlp.gate_proj", h, c.intermediateSize(), false);
                w.linear(random, l, "mlp.up_proj", h, c.intermediateSize(), false);
                w.linear(random, l, "mlp.down_proj", c.intermediateSize(), h, false);
            }
            w.put(random, TensorNames.finalNorm(), 0.2f, 1f, h);
            w.put(random, TensorNames.lmHead(), 0.2f, 0f, c.vocabSize(), h);
            return w;
        }

        private void linear(Random random, int layer, String name, int in, int out, boolean bias) {
            put(random, TensorNames.layer(layer, name + ".weight"), (float) (1 / Math.sqrt(in)), 0f, out, in);
            if (bias) put(random, TensorNames.layer(layer, name + ".bias"), 0.5f, 0f, out);
        }

        /** Uniform in center ± scale, rounded to bf16. */
        private void put(Random random, String name, float scale, float center, long... shape) {
            long size = 1;
            for (long d : shape) size *= d;
            float[] v = new float[(int) size];
            for (int i = 0; i < v.length; i++) v[i] = Bf16.round(center + (random.nextFloat() * 2 - 1) * scale);
            shapes.put(name, shape);
            values.put(name, v);
        }

        @Override
        public boolean contains(String name) { return values.containsKey(name); }

        @Override
        public long[] shape(String name) { return require(name, shapes.get(name)).clone(); }

        @Override
        public DType dtype(String name) {
            require(name, values.get(name));
            return DType.F32;
        }

        @Override
        public float[] readFloats(String name) { return require(name, values.get(name)).clone(); }

        private static <T> T require(String name, T value) {
            if (value == null) throw new ModelFormatException("missing tensor " + name);
            return value;
        }

        @Override
        public void close() { }
    }
}
