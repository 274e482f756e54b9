package io.radixlm.cuda;

import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.testing.Golden;
import io.radixlm.testing.NpyArray;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Supplier;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole CUDA forward pass on the golden models against transformers' float32 logits (computed
 * from the same bf16 weights) and against the CPU reference backend, op by op.
 */
@Tag("gpu")
class CudaBackendGpuTest {
    private static final int PAGE_SIZE = 16;
    /** Page layouts below fit 20 pages (320 tokens) from their first page on, within a pool of 64. */
    private static final int MAX_PAGES = 20;
    private static final double BF16_LOGITS_TOLERANCE = 1e-2;

    static Stream<Arguments> modelsAndLengths() {
        return Golden.MODEL_NAMES.stream()
                .flatMap(m -> Golden.SEQUENCE_LENGTHS.stream().map(len -> Arguments.of(m, len)));
    }

    @ParameterizedTest(name = "{0}, {1} tokens")
    @MethodSource("modelsAndLengths")
    void prefillLogitsMatchTransformers(String model, int length) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(length).ids();
        NpyArray reference = Golden.referenceLogits(model, length);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.allocateKvCache(64, PAGE_SIZE);
            float[] logits = gpu.forward(prefill(ids, 0, ids.length, allRows(ids.length), 3));
            double error = Golden.relativeError(logits, reference.data());
            int disagreements = greedyDisagreements(logits, reference.data(), config.vocabSize());
            System.err.printf("[gpu-test] %s len %d: logits rel. error %.2e vs transformers, greedy disagreements at non-ties %d%n",
                    model, length, error, disagreements);
            assertTrue(error <= BF16_LOGITS_TOLERANCE, "relative error " + error);
            assertEquals(0, disagreements, "greedy tokens differ where the reference has no near-tie");
        }
    }

    @Test
    void chunkedPrefillThenDecodeMatchesTransformersRowByRow() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(33).ids();
        NpyArray reference = Golden.referenceLogits(model, 33);
        int vocab = config.vocabSize();
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.allocateKvCache(64, PAGE_SIZE);
            float[] actual = new float[33 * vocab];
            float[] first = gpu.forward(prefill(ids, 0, 20, allRows(20), 5)); // a chunk of 20, all rows back
            System.arraycopy(first, 0, actual, 0, 20 * vocab);
            for (int pos = 20; pos < 33; pos++) {                            // then one token at a time
                float[] step = gpu.forward(prefill(ids, pos, pos + 1, new int[] {0}, 5));
                System.arraycopy(step, 0, actual, pos * vocab, vocab);
            }
            double error = Golden.relativeError(actual, reference.data());
            System.err.printf("[gpu-test] %s chunked prefill + 13 decode steps: rel. error %.2e%n", model, error);
            assertTrue(error <= BF16_LOGITS_TOLERANCE, "relative error " + error);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modelNames")
    void fusedDecodeMatchesTransformersAndTheSeparateKernels(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(33).ids();
        NpyArray reference = Golden.referenceLogits(model, 33);
        int vocab = config.vocabSize();
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend fused = new CudaBackend(config, weights, 0.45);
             CudaBackend separate = new CudaBackend(config, weights, 0.45)) {
            separate.setFusedDecodeEnabled(false);
            float[] fusedLogits = new float[13 * vocab];
            float[] separateLogits = new float[13 * vocab];
            for (CudaBackend gpu : new CudaBackend[] {fused, separate}) {
                gpu.allocateKvCache(64, PAGE_SIZE);
                gpu.forward(prefill(ids, 0, 20, new int[] {19}, 5));
                for (int pos = 20; pos < 33; pos++) { // one token a step: the fused path when enabled
                    float[] step = gpu.forward(prefill(ids, pos, pos + 1, new int[] {0}, 5));
                    System.arraycopy(step, 0, gpu == fused ? fusedLogits : separateLogits, (pos - 20) * vocab, vocab);
                }
            }
            ForwardBatch last = prefill(ids, 32, 33, new int[] {0}, 5);
            assertTrue(!fused.profile(last, 1).containsKey("attn_norm"), "the fused step has no separate norm kernel");
            assertTrue(separate.profile(last, 1).containsKey("attn_norm"), "the switch brings the norm kernel back");
            float[] expected = Arrays.copyOfRange(reference.data(), 20 * vocab, 33 * vocab);
            double fusedError = Golden.relativeError(fusedLogits, expected);
            double separateError = Golden.relativeError(separateLogits, expected);
            double between = Golden.relativeError(fusedLogits, separateLogits);
            System.err.printf("[gpu-test] %s 13 decode steps: fused %.2e, separate %.2e vs transformers; fused vs separate %.2e%n",
                    model, fusedError, separateError, between);
            assertTrue(fusedError <= BF16_LOGITS_TOLERANCE, "fused vs transformers: relative error " + fusedError);
            assertTrue(between <= BF16_LOGITS_TOLERANCE, "fused vs separate kernels: relative difference " + between);
            assertEquals(0, greedyDisagreements(fusedLogits, expected, vocab), "greedy tokens differ from transformers");
        }
    }

    @Test
    void prefixHitPrefillMatchesColdPrefill() {
        GpuTestSupport.device();
        String model = "qwen3_qknorm";
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(300).ids();
        int vocab = config.vocabSize();
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.allocateKvCache(64, PAGE_SIZE);
            float[] cold = gpu.forward(prefill(ids, 0, 300, allRows(300), 0));
            // The first 64 tokens (4 pages) are cached; a second request prefills only the 236 after them.
            float[] hit = gpu.forward(prefill(ids, 64, 300, allRows(236), 0));
            float[] coldSuffix = Arrays.copyOfRange(cold, 64 * vocab, 300 * vocab);
            double error = Golden.relativeError(hit, coldSuffix);
            System.err.printf("[gpu-test] prefix hit of 64 tokens vs cold prefill: rel. difference %.2e, bitwise equal: %s%n",
                    error, Arrays.equals(hit, coldSuffix));
            assertTrue(error < 1e-3, "prefix-hit logits differ from the cold run by " + error);
            assertEquals(0, greedyDisagreements(hit, coldSuffix, vocab));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modelNames")
    void everyOpMatchesTheCpuReference(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(33).ids();
        Map<String, float[]> cpuOps = new LinkedHashMap<>();
        Map<String, float[]> gpuOps = new LinkedHashMap<>();
        ForwardBatch batch = prefill(ids, 0, ids.length, new int[] {ids.length - 1, 3}, 2);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CpuBackend cpu = new CpuBackend(config, weights);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            cpu.allocateKvCache(64, PAGE_SIZE);
            gpu.allocateKvCache(64, PAGE_SIZE);
            cpu.forward(batch, (name, values, rows, cols) -> cpuOps.put(name, values));
            gpu.forward(batch, (name, values, rows, cols) -> gpuOps.put(name, values));
        }
        assertEquals(cpuOps.keySet(), gpuOps.keySet());
        StringBuilder report = new StringBuilder();
        for (String op : cpuOps.keySet()) {
            double error = Golden.relativeError(gpuOps.get(op), cpuOps.get(op));
            report.append(String.format(" %s=%.1e", op, error));
            assertTrue(error <= BF16_LOGITS_TOLERANCE, op + ": relative error " + error);
        }
        System.err.println("[gpu-test] " + model + " GPU vs CPU per op:" + report);
    }

    @Test
    void graphReplayedDecodeOfMixedLengthsMatchesTransformersAndEagerLaunches() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        NpyArray[] reference = {Golden.referenceLogits(model, 33), Golden.referenceLogits(model, 300),
                Golden.referenceLogits(model, 7)};
        // prefilled eagerly, then 6 decode steps of all three together
        assertGraphMatchesEagerAndTransformers(model, "3 seqs padded to 4", Decoding.threeSequences(model), reference, 64, 6);
    }

    @Test
    void graphOfTheLargestBucketMatchesEagerLaunchesAndTransformers() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        int numSeqs = 130; // padded to the 256 bucket: 126 padding rows
        int[] sequence = Golden.modelReference(model).sequence(33).ids();
        NpyArray[] reference = new NpyArray[numSeqs];
        Arrays.fill(reference, Golden.referenceLogits(model, 33));
        int[][] ids = new int[numSeqs][];
        int[] prompt = new int[numSeqs];
        int[] firstPage = new int[numSeqs];
        for (int s = 0; s < numSeqs; s++) {
            ids[s] = sequence;
            prompt[s] = 3 + s % 25;
            firstPage[s] = s * MAX_PAGES;
        }
        assertGraphMatchesEagerAndTransformers(model, "130 seqs padded to 256", new Decoding(ids, prompt, firstPage),
                reference, numSeqs * MAX_PAGES, 4);
    }

    @Test
    void decodeGraphsFollowTheBlockTableWidthAsTheContextGrowsPastAPowerOfTwoOfPages() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int vocab = config.vocabSize();
        int[] ids = Golden.modelReference(model).sequence(300).ids();
        NpyArray reference = Golden.referenceLogits(model, 300);
        int prompt = 250;  // 16 pages; the steps from position 256 on need a 17th: block-table rows 16 → 32 pages wide
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend graphed = new CudaBackend(config, weights, 0.9);
             CudaBackend eager = new CudaBackend(config, weights, 0.9)) {
            eager.setGraphsEnabled(false);
            for (CudaBackend gpu : new CudaBackend[] {graphed, eager}) {
                gpu.allocateKvCache(64, PAGE_SIZE);
                gpu.forward(prefill(ids, 0, prompt, new int[] {prompt - 1}, 0));
            }
            double worstVsReference = 0;
            for (int position = prompt; position < prompt + 12; position++) {
                // the table covers just the context, as the engine's does
                int[] pages = Arrays.copyOf(reversedPages(0), position / PAGE_SIZE + 1);
                ForwardBatch batch = ForwardBatchBuilder.decode(new int[] {ids[position]}, new int[] {position},
                        new int[][] {pages}, PAGE_SIZE);
                float[] fromGraph = graphed.forward(batch);
                float[] fromEager = eager.forward(batch);
                assertTrue(Golden.relativeError(fromGraph, fromEager) <= 1e-3, "graph vs eager at position " + position);
                assertEquals(0, greedyDisagreements(fromGraph, fromEager, vocab), "graph and eager greedy tokens");
                worstVsReference = Math.max(worstVsReference, Golden.relativeError(fromGraph, reference.row(position)));
            }
            assertTrue(worstVsReference <= BF16_LOGITS_TOLERANCE, "vs transformers " + worstVsReference);
            assertEquals(StepMetadata.TRIM_BLOCK_TABLES ? 2 : 1, graphed.decodeGraphsCaptured(),
                    "one graph for rows of 16 pages, one for 32");
            System.err.printf("[gpu-test] decode across the 16 → 32-page table width: rel. error vs transformers <= %.2e%n",
                    worstVsReference);
        }
    }

    /**
     * Prefills the sequences eagerly on a backend that replays CUDA graphs and on one that launches eagerly,
     * then decodes numSteps steps of all of them together on both: the greedy tokens must agree, and the logits
     * be close to each other and to transformers' (reference[s] for sequence s).
     */
    private static void assertGraphMatchesEagerAndTransformers(String model, String label, Decoding seqs,
                                                               NpyArray[] reference, int numPages, int numSteps) {
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int vocab = config.vocabSize();
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend graphed = new CudaBackend(config, weights, 0.9);
             CudaBackend eager = new CudaBackend(config, weights, 0.9)) {
            eager.setGraphsEnabled(false);
            for (CudaBackend gpu : new CudaBackend[] {graphed, eager}) {
                gpu.allocateKvCache(numPages, PAGE_SIZE);
                seqs.prefill(gpu);
            }
            double worstVsReference = 0;
            double worstVsEager = 0;
            for (int step = 0; step < numSteps; step++) {
                ForwardBatch batch = seqs.decode(step);
                float[] fromGraph = graphed.forward(batch);
                float[] fromEager = eager.forward(batch);
                worstVsEager = Math.max(worstVsEager, Golden.relativeError(fromGraph, fromEager));
                assertEquals(0, greedyDisagreements(fromGraph, fromEager, vocab), "graph and eager greedy tokens");
                for (int s = 0; s < seqs.numSeqs(); s++) {
                    float[] row = Arrays.copyOfRange(fromGraph, s * vocab, (s + 1) * vocab);
                    worstVsReference = Math.max(worstVsReference,
                            Golden.relativeError(row, reference[s].row(seqs.prompt()[s] + step)));
                }
            }
            System.err.printf("[gpu-test] graph-replayed decode (%s): rel. error vs transformers <= %.2e, vs eager <= %.2e%n",
                    label, worstVsReference, worstVsEager);
            assertTrue(worstVsReference <= BF16_LOGITS_TOLERANCE, "vs transformers " + worstVsReference);
            assertTrue(worstVsEager <= 1e-3, "graph vs eager " + worstVsEager);
        }
    }

    @Test
    void programmaticDependentLaunchesGiveTheSameLogitsAsPlainLaunches() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        Decoding three = Decoding.threeSequences(model);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend dependent = new CudaBackend(config, weights, 0.45);
             CudaBackend plain = withoutDependentLaunches(() -> new CudaBackend(config, weights, 0.45))) {
            assertTrue(dependent.device().launchesAsDependent("gemv_rows1") || dependent.device().computeCapability() < 90,
                    "a Hopper GPU launches the GEMV as a programmatic dependent");
            assertTrue(!plain.device().launchesAsDependent("gemv_rows1"), "-Dradixlm.pdl=false turns it off");
            for (CudaBackend gpu : new CudaBackend[] {dependent, plain}) {
                gpu.allocateKvCache(64, PAGE_SIZE);
                three.prefill(gpu);
            }
            // the first sequence alone (the 1-row GEMV path), then the other two (cuBLAS GEMMs between dependent kernels)
            for (int[] group : new int[][] {{0}, {1, 2}}) {
                Decoding some = three.only(group);
                for (int step = 0; step < 6; step++) {
                    ForwardBatch batch = some.decode(step);
                    float[] fromDependent = dependent.forward(batch);
                    float[] fromPlain = plain.forward(batch);
                    assertTrue(Arrays.equals(fromDependent, fromPlain), "logits of step " + step + " of sequences "
                            + Arrays.toString(group) + " differ: relative error " + Golden.relativeError(fromDependent, fromPlain));
                }
            }
        }
    }

    /**
     * Sequences that decode together after a prefill each: the first prompt[s] tokens of ids[s] are prefilled
     * (alone, logits of the last) on pages from firstPage[s] on, then step k brings token prompt[s] + k of each.
     */
    private record Decoding(int[][] ids, int[] prompt, int[] firstPage) {
        /** Three sequences of mixed lengths: 20 of 33 tokens, 280 of 300 (several pages), 1 of 7. */
        static Decoding threeSequences(String model) {
            int[][] ids = {Golden.modelReference(model).sequence(33).ids(), Golden.modelReference(model).sequence(300).ids(),
                    Golden.modelReference(model).sequence(7).ids()};
            return new Decoding(ids, new int[] {20, 280, 1}, new int[] {0, 20, 40});
        }

        int numSeqs() { return ids.length; }

        void prefill(CudaBackend gpu) {
            for (int s = 0; s < numSeqs(); s++) {
                gpu.forward(CudaBackendGpuTest.prefill(ids[s], 0, prompt[s], new int[] {prompt[s] - 1}, firstPage[s]));
            }
        }

        ForwardBatch decode(int step) { return CudaBackendGpuTest.decode(ids, prompt, firstPage, step); }

        /** The sequences of the group, in its order, with their pages. */
        Decoding only(int[] group) {
            return new Decoding(Arrays.stream(group).mapToObj(s -> ids[s]).toArray(int[][]::new),
                    Arrays.stream(group).map(s -> prompt[s]).toArray(), Arrays.stream(group).map(s -> firstPage[s]).toArray());
        }
    }

    private static CudaBackend withoutDependentLaunches(Supplier<CudaBackend> create) {
        System.setProperty("radixlm.pdl", "false");
        try {
            return create.get();
        } finally {
            System.clearProperty("radixlm.pdl");
        }
    }

    /** One decode token per sequence: token prompt[s] + step of ids[s], laid out as prefill() lays pages. */
    private static ForwardBatch decode(int[][] ids, int[] prompt, int[] firstPage, int step) {
        int n = ids.length;
        int[] tokens = new int[n];
        int[] positions = new int[n];
        int[][] pages = new int[n][];
        for (int s = 0; s < n; s++) {
            positions[s] = prompt[s] + step;
            tokens[s] = ids[s][positions[s]];
            pages[s] = reversedPages(firstPage[s]);
        }
        return ForwardBatchBuilder.decode(tokens, positions, pages, PAGE_SIZE);
    }

    static Stream<String> modelNames() { return Golden.MODEL_NAMES.stream(); }

    /**
     * One sequence whose tokens [from, to) are new (those before are in the cache), pages laid out
     * from firstPage on, in reverse order so that the block table matters.
     */
    private static ForwardBatch prefill(int[] ids, int from, int to, int[] logitRows, int firstPage) {
        return new ForwardBatchBuilder(PAGE_SIZE).addChunk(ids, from, to, reversedPages(firstPage)).build(logitRows);
    }

    /** MAX_PAGES pages from firstPage on, in reverse order (the block table holds the highest first). */
    private static int[] reversedPages(int firstPage) {
        int[] pages = new int[MAX_PAGES];
        for (int p = 0; p < MAX_PAGES; p++) pages[p] = firstPage + (MAX_PAGES - 1 - p);
        return pages;
    }

    private static int[] allRows(int n) {
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) rows[i] = i;
        return rows;
    }

    /** Rows whose argmax differs although the reference's top two logits are at least 1e-2 apart. */
    private static int greedyDisagreements(float[] actual, float[] reference, int vocab) {
        int count = 0;
        for (int r = 0; r < reference.length / vocab; r++) {
            int best = 0;
            int second = -1;
            int actualBest = 0;
            for (int i = 1; i < vocab; i++) {
                float value = reference[r * vocab + i];
                if (value > reference[r * vocab + best]) {
                    second = best;
                    best = i;
                } else if (second < 0 || value > reference[r * vocab + second]) {
                    second = i;
                }
                if (actual[r * vocab + i] > actual[r * vocab + actualBest]) actualBest = i;
            }
            float gap = reference[r * vocab + best] - reference[r * vocab + second];
            if (actualBest != best && gap >= 1e-2) count++;
        }
        return count;
    }
}
