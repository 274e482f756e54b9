package io.radixlm.cuda;

import io.radixlm.backend.ForwardBatch;
import io.radixlm.model.DType;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.RopeConfig;
import io.radixlm.model.TensorNames;
import io.radixlm.model.WeightSource;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decode speed of the CUDA forward on random bf16 weights of stories15M's and Llama-3.2-1B's shapes (no
 * weight file needed on the GPU machine): prints tokens/s at batch 1 and 32, with and without graphs. Asserts only that decoding ran and
 * produced ids inside the vocabulary; the numbers go into the log for BENCHMARKS.md.
 */
@Tag("gpu")
@Tag("speed") // timings mean nothing under compute-sanitizer; device-test leaves them out of that pass
class DecodeSpeedGpuTest {
    private static final int PAGE_SIZE = 16;

    @ParameterizedTest(name = "{0} shape, batch {1}, graphs {2}")
    @CsvSource({"stories15M, 1, true", "stories15M, 32, true", "stories15M, 1, false", "stories15M, 32, false",
            "Llama-3.2-1B, 1, true", "Llama-3.2-1B, 32, true"})
    void randomWeightDecode(String shape, int batchSize, boolean graphs) {
        GpuTestSupport.device();
        ModelConfig config = shape.equals("stories15M")
                ? new ModelConfig("llama", 288, 768, 6, 6, 6, 48, 32000, 256, 1e-5,
                        RopeConfig.defaultRope(10000), true, false, false, 1, List.of(2), "float32")
                : new ModelConfig("llama", 2048, 8192, 16, 32, 8, 64, 128256, 131072, 1e-5,
                        new RopeConfig("llama3", 500000, 32, 1, 4, 8192), true, false, false, 1, List.of(2), "bfloat16");
        int promptLength = 32;
        int steps = 128;
        int pagesPerSeq = (promptLength + steps + PAGE_SIZE - 1) / PAGE_SIZE;
        try (CudaBackend gpu = new CudaBackend(config, new RandomWeights(config), 0.9)) {
            gpu.setGraphsEnabled(graphs);
            gpu.allocateKvCache(batchSize * pagesPerSeq, PAGE_SIZE);
            int[][] tables = new int[batchSize][pagesPerSeq];
            for (int s = 0; s < batchSize; s++) for (int p = 0; p < pagesPerSeq; p++) tables[s][p] = s * pagesPerSeq + p;
            int[] next = gpu.forwardGreedy(promptBatch(tables, promptLength, config.vocabSize()));
            int warmup = 8;
            long start = 0;
            for (int step = 0; step < steps; step++) {
                if (step == warmup) start = System.nanoTime();
                next = gpu.forwardGreedy(decodeBatch(tables, next, promptLength + step));
                for (int id : next) assertTrue(id >= 0 && id < config.vocabSize(), "sampled id " + id);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            double tokensPerSecond = batchSize * (steps - warmup) / seconds;
            System.err.printf("[gpu-test] %s-shaped decode (%s), batch %d: %.0f tokens/s (%.3f ms/step)%n",
                    shape, graphs ? "CUDA graph replay" : "eager launches", batchSize, tokensPerSecond, seconds * 1e3 / (steps - warmup));
        }
    }

    private static ForwardBatch promptBatch(int[][] tables, int promptLength, int vocab) {
        int numSeqs = tables.length;
        int n = numSeqs * promptLength;
        int[] tokens = new int[n];
        int[] positions = new int[n];
        int[] slots = new int[n];
        int[] starts = new int[numSeqs + 1];
        int[] lengths = new int[numSeqs];
        int[] rows = new int[numSeqs];
        SplittableRandom random = new SplittableRandom(7);
        for (int s = 0; s < numSeqs; s++) {
            starts[s + 1] = starts[s] + promptLength;
            lengths[s] = promptLength;
            rows[s] = starts[s + 1] - 1;
            for (int i = 0; i < promptLength; i++) {
                int t = starts[s] + i;
                tokens[t] = random.nextInt(vocab);
                positions[t] = i;
                slots[t] = tables[s][i / PAGE_SIZE] * PAGE_SIZE + i % PAGE_SIZE;
            }
        }
        return new ForwardBatch(tokens, positions, slots, starts, lengths, tables, rows);
    }

    private static ForwardBatch decodeBatch(int[][] tables, int[] tokens, int position) {
        int numSeqs = tables.length;
        int[] positions = new int[numSeqs];
        int[] slots = new int[numSeqs];
        int[] starts = new int[numSeqs + 1];
        int[] lengths = new int[numSeqs];
        int[] rows = new int[numSeqs];
        for (int s = 0; s < numSeqs; s++) {
            positions[s] = position;
            slots[s] = tables[s][position / PAGE_SIZE] * PAGE_SIZE + position % PAGE_SIZE;
            starts[s + 1] = s + 1;
            lengths[s] = position + 1;
            rows[s] = s;
        }
        return new ForwardBatch(tokens.clone(), positions, slots, starts, lengths, tables, rows);
    }

    /** Weights of the shapes config.json implies, uniform in ±0.05 (norms near 1), generated on demand. */
    private static final class RandomWeights implements WeightSource {
        private final Map<String, long[]> shapes = new HashMap<>();

        RandomWeights(ModelConfig config) {
            for (TensorNames.Expected e : TensorNames.expectedShapes(config)) shapes.put(e.name(), e.shape());
        }

        @Override
        public boolean contains(String name) { return shapes.containsKey(name); }

        @Override
        public long[] shape(String name) { return shapes.get(name).clone(); }

        @Override
        public DType dtype(String name) { return DType.BF16; }

        @Override
        public float[] readFloats(String name) {
            long count = 1;
            for (long d : shapes.get(name)) count *= d;
            float[] values = new float[(int) count];
            SplittableRandom random = new SplittableRandom(name.hashCode());
            boolean norm = name.endsWith("norm.weight");
            for (int i = 0; i < values.length; i++) {
                values[i] = norm ? 1f + (float) random.nextDouble(-0.1, 0.1) : (float) random.nextDouble(-0.05, 0.05);
            }
            return values;
        }

        @Override
        public void close() { }
    }
}
