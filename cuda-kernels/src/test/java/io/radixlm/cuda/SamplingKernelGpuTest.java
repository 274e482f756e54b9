package io.radixlm.cuda;

import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.sampling.Sampler;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.testing.Golden;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * sample_rows against its CPU twin, {@link Sampler}: the same ids from the same logits, parameters,
 * seeds and steps. A disagreement is allowed only on a row where the CPU's u lies within 1e-6 of a
 * boundary of its cumulative distribution (exp may differ in its last bit between CUDA and Java).
 */
@Tag("gpu")
class SamplingKernelGpuTest {
    private static final double[] TEMPERATURES = {0.3, 0.7, 1.0, 1.5};
    private static final int[] TOP_KS = {0, 1, 40, 1000};
    private static final double[] TOP_PS = {0.5, 0.9, 1.0};
    private static final double[] MIN_PS = {0, 0.05, 0.2};
    private static final double NEAR_BOUNDARY = 1e-6;

    @ParameterizedTest(name = "vocab {0}")
    @ValueSource(ints = {384, 32000, 151936})
    void gpuDrawsTheCpuSamplersTokens(int vocab) {
        CudaDevice device = GpuTestSupport.device();
        Random random = new Random(vocab);
        int repeats = vocab > 1000 ? 1 : 4; // 144 parameter sets each; modest, so the memcheck pass stays short
        List<SamplingParams> rowParams = new ArrayList<>();
        for (int rep = 0; rep < repeats; rep++) {
            for (double t : TEMPERATURES) for (int k : TOP_KS) for (double p : TOP_PS) for (double m : MIN_PS) {
                rowParams.add(new SamplingParams(t, k, p, m, random.nextLong(), 16, List.of(), false));
            }
        }
        int numRows = rowParams.size();
        float[] logits = randomRows(random, numRows, vocab);
        int[] steps = new int[numRows];
        for (int r = 0; r < numRows; r++) steps[r] = random.nextInt(4096);
        int[] gpu = sampleOnGpu(device, logits, rowParams.toArray(new SamplingParams[0]), steps, vocab);
        int disagreements = 0;
        for (int r = 0; r < numRows; r++) {
            Sampler.Draw cpu = new Sampler(rowParams.get(r)).draw(logits, r * vocab, vocab, steps[r]);
            if (gpu[r] != cpu.token()) {
                disagreements++;
                System.err.printf("[gpu-test] vocab %d row %d %s: gpu %d, cpu %d, u %.17f, distance to boundary %.3e%n",
                        vocab, r, rowParams.get(r), gpu[r], cpu.token(), cpu.u(), cpu.boundaryDistance());
                assertTrue(cpu.boundaryDistance() < NEAR_BOUNDARY, "row " + r + ": gpu " + gpu[r] + " != cpu " + cpu.token()
                        + " although u is " + cpu.boundaryDistance() + " from a boundary");
            }
        }
        System.err.printf("[gpu-test] sampling vocab %d: %d of %d rows agree%n", vocab, numRows - disagreements, numRows);
        assertTrue(disagreements <= numRows / 1000, disagreements + " disagreements in " + numRows + " rows");
    }

    @ParameterizedTest(name = "vocab {0}")
    @ValueSource(ints = {384, 32000, 151936})
    void greedyRowsAreTheArgmaxLowestIdOnTies(int vocab) {
        CudaDevice device = GpuTestSupport.device();
        Random random = new Random(vocab + 1);
        int numRows = 64;
        float[] logits = randomRows(random, numRows, vocab);
        for (int r = 0; r < numRows; r += 2) { // a tie for the maximum at two random ids
            int a = random.nextInt(vocab);
            int b = random.nextInt(vocab);
            logits[r * vocab + a] = 100;
            logits[r * vocab + b] = 100;
        }
        SamplingParams[] params = new SamplingParams[numRows];
        Arrays.fill(params, SamplingParams.greedy(1));
        int[] gpu = sampleOnGpu(device, logits, params, new int[numRows], vocab);
        for (int r = 0; r < numRows; r++) {
            int expected = 0;
            for (int i = 1; i < vocab; i++) if (logits[r * vocab + i] > logits[r * vocab + expected]) expected = i;
            assertEquals(expected, gpu[r], "row " + r);
        }
    }

    @Test
    void nonFiniteRowsAreFlagged() {
        CudaDevice device = GpuTestSupport.device();
        int vocab = 1000;
        float[] logits = randomRows(new Random(3), 3, vocab);
        logits[vocab + 17] = Float.NaN;
        logits[2 * vocab + 999] = Float.POSITIVE_INFINITY;
        SamplingParams sampled = new SamplingParams(1.0, 0, 0.9, 0, 1, 16, List.of(), false);
        int[] gpu = sampleOnGpu(device, logits, new SamplingParams[] {sampled, sampled, SamplingParams.greedy(1)}, new int[3], vocab);
        assertTrue(gpu[0] >= 0 && gpu[0] < vocab, "finite row: " + gpu[0]);
        assertEquals(-1, gpu[1]);
        assertEquals(-1, gpu[2]);
    }

    static List<String> models() { return Golden.MODEL_NAMES; }

    /**
     * The whole path: CudaBackend.forwardSample (prefill rows, then a graph-replayed decode) draws the CPU
     * Sampler's tokens from the logits it computed, and forward() + the CPU Sampler gives the same ids.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void backendForwardSampleEqualsForwardThenCpuSampler(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(33).ids();
        int vocab = config.vocabSize();
        Random random = new Random(model.hashCode());
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.allocateKvCache(16, 16);
            ForwardBatch prefill = prefill(ids);
            ForwardBatch decode = decode(ids[5], ids.length);
            for (ForwardBatch batch : new ForwardBatch[] {prefill, decode}) {
                int numRows = batch.logitRows().length;
                for (int round = 0; round < 4; round++) {
                    SamplingParams[] params = new SamplingParams[numRows];
                    int[] steps = new int[numRows];
                    for (int r = 0; r < numRows; r++) {
                        params[r] = round == 0 ? SamplingParams.greedy(1) : new SamplingParams(
                                TEMPERATURES[random.nextInt(4)], TOP_KS[random.nextInt(4)], TOP_PS[random.nextInt(3)],
                                MIN_PS[random.nextInt(3)], random.nextLong(), 16, List.of(), false);
                        steps[r] = random.nextInt(100);
                    }
                    int[] sampled = gpu.forwardSample(batch, params, steps);
                    float[] logits = gpu.latestLogits(numRows); // the very logits sample_rows read
                    for (int r = 0; r < numRows; r++) {
                        Sampler.Draw cpu = new Sampler(params[r]).draw(logits, r * vocab, vocab, steps[r]);
                        if (sampled[r] != cpu.token()) {
                            assertTrue(cpu.boundaryDistance() < NEAR_BOUNDARY, model + " round " + round + " row " + r
                                    + ": gpu " + sampled[r] + " != cpu " + cpu.token() + ", u " + cpu.boundaryDistance() + " from a boundary");
                        }
                    }
                    float[] again = gpu.forward(batch);
                    int[] fromForward = new int[numRows];
                    for (int r = 0; r < numRows; r++) fromForward[r] = new Sampler(params[r]).sample(again, r * vocab, vocab, steps[r]);
                    assertArrayEquals(fromForward, sampled, model + " round " + round + ": forward() + the CPU Sampler");
                }
            }
        }
    }

    /** The whole sequence (33 tokens) in pages 0..2, every position a logit row. */
    private static ForwardBatch prefill(int[] ids) {
        return new ForwardBatchBuilder(16).add(ids, 0, new int[] {0, 1, 2}).buildAllRows();
    }

    /** One more token at position, after the prefill above. */
    private static ForwardBatch decode(int token, int position) {
        return ForwardBatchBuilder.decode(new int[] {token}, new int[] {position}, new int[][] {{0, 1, 2}}, 16);
    }

    /**
     * Rows of varied shape: Gaussian logits of scale 0.5 to 8 (flat to peaked); every third row rounded to
     * multiples of 0.25, so that exact ties sit at the filters' cuts and must go to the lower id.
     */
    private static float[] randomRows(Random random, int numRows, int vocab) {
        float[] logits = new float[numRows * vocab]; // (numRows, vocab)
        for (int r = 0; r < numRows; r++) {
            double scale = 0.5 * Math.pow(16, random.nextDouble());
            boolean ties = r % 3 == 2;
            for (int i = 0; i < vocab; i++) {
                double x = random.nextGaussian() * scale;
                logits[r * vocab + i] = (float) (ties ? Math.round(x * 4) / 4.0 : x);
            }
        }
        return logits;
    }

    private static int[] sampleOnGpu(CudaDevice device, float[] logits, SamplingParams[] params, int[] steps, int vocab) {
        int numRows = params.length;
        try (DeviceMemory logitsOnGpu = GpuTestSupport.upload(device, logits);
             DeviceMemory paramsOnGpu = device.allocate(8L * numRows * SamplingKernel.PARAMS_PER_ROW);
             DeviceMemory out = device.allocate(4L * numRows)) {
            out.fill((byte) 0x7F); // 0x7F7F7F7F: beyond any vocabulary, so an unwritten row shows
            paramsOnGpu.copyFrom(SamplingKernel.pack(params, steps));
            new SamplingKernel(device).launch(logitsOnGpu, paramsOnGpu, out, numRows, vocab);
            int[] ids = out.toInts(numRows);
            for (int r = 0; r < numRows; r++) {
                assertTrue(ids[r] >= -1 && ids[r] < vocab, "row " + r + " unwritten or out of range: " + ids[r]);
            }
            return ids;
        }
    }
}
