package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.F32_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.randomFloats;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static io.radixlm.cuda.GpuTestSupport.toDoubles;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Embedding gather, fused residual + RMSNorm, SwiGLU, row gather and argmax against plain Java loops. */
@Tag("gpu")
class ElementwiseKernelsGpuTest {
    private final Random random = new Random();

    @ParameterizedTest
    @CsvSource({"1, 288, V2", "17, 288, V2", "300, 2048, V2", "4097, 64, V2", "8192, 4096, V2", "5, 1028, V2", "3, 8, V2",
        "1, 288, V1", "300, 2048, V1", "8192, 4096, V1"})  // V2: vec8 when hidden % 8 == 0 (1028 takes the loop)
    void embeddingGatherCopiesTheRowsOfTheTokens(int numTokens, int hidden, ElementwiseVariant variant) {
        CudaDevice device = device();
        int vocab = 1003;
        float[] table = randomBf16Values(random, vocab * hidden, 1f);
        int[] ids = random.ints(numTokens, 0, vocab).toArray();
        ids[0] = vocab - 1;  // the last row, where an off-by-one would read past the table
        try (DeviceMemory tableGpu = uploadBf16(device, table); DeviceMemory idsGpu = upload(device, ids);
             DeviceMemory out = poisoned(device, 4L * numTokens * hidden)) {
            new EmbeddingKernel(device, variant).launch(tableGpu, idsGpu, out, numTokens, vocab, hidden);
            float[] actual = out.toFloats(numTokens * hidden);
            float[] expected = new float[numTokens * hidden];
            for (int t = 0; t < numTokens; t++) System.arraycopy(table, ids[t] * hidden, expected, t * hidden, hidden);
            assertArrayEquals(expected, actual);
        }
    }

    @ParameterizedTest
    @CsvSource({"5, 288, V2", "5, 1028, V2", "5, 288, V1"})
    void embeddingGatherTakesFedIdsFromTheStepBeforeAndGivesNaNOutsideTheTable(int numTokens, int hidden,
                                                                            ElementwiseVariant variant) {
        CudaDevice device = device();
        int vocab = 1003;
        float[] table = randomBf16Values(random, vocab * hidden, 1f);
        int[] fed = {17, vocab - 1, -1, vocab}; // the previous step's sampled ids; -1: logits that were not finite
        int[] ids = {-1 - 1, 5, -1 - 0, -1 - 2, -1 - 3}; // rows 1, then id 5, rows 0, 2 (-1) and 3 (past the table)
        try (DeviceMemory tableGpu = uploadBf16(device, table); DeviceMemory idsGpu = upload(device, ids);
             DeviceMemory fedGpu = upload(device, fed); DeviceMemory out = poisoned(device, 4L * numTokens * hidden)) {
            new EmbeddingKernel(device, variant).launch(tableGpu, idsGpu, fedGpu, out, numTokens, vocab, hidden);
            float[] actual = out.toFloats(numTokens * hidden);
            int[] expectedIds = {vocab - 1, 5, 17, -1, -1};
            for (int t = 0; t < numTokens; t++) {
                float[] row = Arrays.copyOfRange(actual, t * hidden, (t + 1) * hidden);
                if (expectedIds[t] < 0) {
                    for (float v : row) assertTrue(Float.isNaN(v), "token " + t + ": NaN for an id outside the table");
                } else {
                    assertArrayEquals(Arrays.copyOfRange(table, expectedIds[t] * hidden, (expectedIds[t] + 1) * hidden),
                            row, "token " + t);
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 288, true", "15, 288, false", "16, 4096, true", "300, 896, true", "17, 2048, false", "3, 30, true",
        "2, 16384, true", "2, 16388, false", "1, 8, true"}) // vec4 path; hidden % 4 != 0 and > 16384 (4 per thread) take the loop
    void rmsNormAddsTheResidualAndNormalises(int numTokens, int hidden, boolean withDelta) {
        CudaDevice device = device();
        float eps = 1e-5f;
        float[] residual = randomFloats(random, numTokens * hidden, 3f);
        float[] delta = randomFloats(random, numTokens * hidden, 1f);
        float[] weight = randomBf16Values(random, hidden, 2f);
        double[] expectedResidual = new double[residual.length];
        double[] expectedOut = new double[residual.length];
        for (int t = 0; t < numTokens; t++) {
            double sumSquares = 0;
            for (int i = 0; i < hidden; i++) {
                float x = withDelta ? residual[t * hidden + i] + delta[t * hidden + i] : residual[t * hidden + i];
                expectedResidual[t * hidden + i] = x;
                sumSquares += (double) x * x;
            }
            double inv = 1 / Math.sqrt(sumSquares / hidden + eps);
            for (int i = 0; i < hidden; i++) expectedOut[t * hidden + i] = expectedResidual[t * hidden + i] * inv * weight[i];
        }
        try (DeviceMemory residualGpu = upload(device, residual); DeviceMemory deltaGpu = upload(device, delta);
             DeviceMemory weightGpu = uploadBf16(device, weight); DeviceMemory out = poisoned(device, 2L * residual.length)) {
            new RmsNormKernel(device).launch(residualGpu, withDelta ? deltaGpu : null, weightGpu, out, numTokens, hidden, eps);
            double residualError = relativeError(residualGpu.toFloats(residual.length), expectedResidual);
            double outError = relativeError(downloadBf16(out, residual.length), expectedOut);
            assertTrue(residualError < F32_TOLERANCE, "residual error " + residualError);
            assertTrue(outError < BF16_TOLERANCE, "norm error " + outError);
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 768", "17, 768", "300, 5632", "16, 11008"})
    void swigluMultipliesSiluOfGateByUp(int numTokens, int intermediate) {
        CudaDevice device = device();
        float[] gateUp = randomFloats(random, 2 * numTokens * intermediate, 6f);
        double[] expected = new double[numTokens * intermediate];
        for (int t = 0; t < numTokens; t++) {
            for (int i = 0; i < intermediate; i++) {
                double gate = gateUp[t * 2 * intermediate + i];
                double up = gateUp[t * 2 * intermediate + intermediate + i];
                expected[t * intermediate + i] = gate / (1 + Math.exp(-gate)) * up;
            }
        }
        try (DeviceMemory in = upload(device, gateUp); DeviceMemory out = poisoned(device, 2L * expected.length)) {
            new SwigluKernel(device).launch(in, out, numTokens, intermediate);
            double error = relativeError(downloadBf16(out, expected.length), expected);
            assertTrue(error < BF16_TOLERANCE, "swiglu error " + error);
        }
    }

    /**
     * The v2 kernel (float4 loads, rows strided over one wave of blocks) against Java and bit for bit against
     * v1 on the same input: 8B prefill (8192 x 14336), decode of 8B and 1B, Qwen sizes, an odd token count,
     * and intermediate % 4 != 0 (v2 falls back to v1's kernel).
     */
    @ParameterizedTest
    @CsvSource({"8192, 14336", "1, 14336", "1, 8192", "8192, 3072", "4097, 4864", "17, 768", "3, 12", "5, 1030", "2, 6"})
    void swigluV2IsBitIdenticalToV1AndMatchesJava(int numTokens, int intermediate) {
        CudaDevice device = device();
        int count = numTokens * intermediate;
        float[] gateUp = randomFloats(random, 2 * count, 6f);
        gateUp[0] = -0.0f;  // signed zero, a large negative gate (exp overflows) and a large positive one
        gateUp[1 % intermediate] = -100f;
        gateUp[2 % intermediate] = 100f;
        double[] expected = new double[count];
        for (int t = 0; t < numTokens; t++) {
            for (int i = 0; i < intermediate; i++) {
                double gate = gateUp[t * 2 * intermediate + i];
                double up = gateUp[t * 2 * intermediate + intermediate + i];
                expected[t * intermediate + i] = gate / (1 + Math.exp(-gate)) * up;
            }
        }
        try (DeviceMemory in = upload(device, gateUp); DeviceMemory outV1 = poisoned(device, 2L * count);
             DeviceMemory outV2 = poisoned(device, 2L * count)) {
            new SwigluKernel(device, ElementwiseVariant.V1).launch(in, outV1, numTokens, intermediate);
            new SwigluKernel(device, ElementwiseVariant.V2).launch(in, outV2, numTokens, intermediate);
            double error = relativeError(downloadBf16(outV2, count), expected);
            assertTrue(error < BF16_TOLERANCE, "swiglu v2 error " + error);
            short[] v1 = outV1.toShorts(count);
            short[] v2 = outV2.toShorts(count);
            for (int i = 0; i < count; i++) {
                if (v1[i] != v2[i]) {
                    throw new AssertionError("v1 and v2 differ at token " + i / intermediate + " column " + i % intermediate
                            + ": " + Integer.toHexString(v1[i] & 0xffff) + " vs " + Integer.toHexString(v2[i] & 0xffff));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33})
    void gatherRowsPicksTheLogitRows(int numRows) {
        CudaDevice device = device();
        int numInRows = 300;
        int width = 288;
        float[] in = randomBf16Values(random, numInRows * width, 1f);
        int[] rows = random.ints(numRows, 0, numInRows).toArray();
        rows[numRows - 1] = numInRows - 1;
        try (DeviceMemory inGpu = uploadBf16(device, in); DeviceMemory rowsGpu = upload(device, rows);
             DeviceMemory out = poisoned(device, 2L * numRows * width)) {
            new GatherRowsKernel(device).launch(inGpu, rowsGpu, out, numInRows, numRows, width);
            float[] expected = new float[numRows * width];
            for (int r = 0; r < numRows; r++) System.arraycopy(in, rows[r] * width, expected, r * width, width);
            assertArrayEquals(expected, downloadBf16(out, numRows * width));
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 32000", "5, 151936", "32, 1000", "3, 1", "4, 2049", "64, 128256", "2, 200000"})
    void argmaxFindsTheFirstMaximum(int numRows, int vocab) {
        CudaDevice device = device();
        float[] logits = randomFloats(random, numRows * vocab, 10f);
        int[] expected = new int[numRows];
        for (int r = 0; r < numRows; r++) {
            if (vocab > 10 && r % 3 == 0) {  // a tie across chunks: the lower index must win
                int a = random.nextInt(vocab / 2);
                int b = vocab / 2 + random.nextInt(vocab / 2);
                logits[r * vocab + a] = 100f;
                logits[r * vocab + b] = 100f;
            } else if (vocab > 10 && r % 3 == 1) {  // a tie of neighbours (one chunk), or the last element
                int a = random.nextInt(vocab - 1);
                logits[r * vocab + a] = 100f;
                logits[r * vocab + (r % 2 == 0 ? vocab - 1 : a + 1)] = 100f;
            }
            int best = 0;
            for (int i = 1; i < vocab; i++) if (logits[r * vocab + i] > logits[r * vocab + best]) best = i;
            expected[r] = best;
        }
        try (DeviceMemory in = upload(device, logits); DeviceMemory out = poisoned(device, 4L * numRows);
             DeviceMemory scratch = poisoned(device, ArgmaxKernel.scratchBytes(numRows))) {
            new ArgmaxKernel(device).launch(in, out, scratch, numRows, vocab);
            assertArrayEquals(expected, out.toInts(numRows));
        }
    }

    @Test
    void argmaxGivesMinusOneForRowsWithNanOrInfinity() {
        CudaDevice device = device();
        int numRows = 4;
        int vocab = 151936;
        float[] logits = randomFloats(random, numRows * vocab, 10f);
        logits[vocab + 70000] = Float.NaN;                 // row 1: a NaN in a middle chunk
        logits[2 * vocab + vocab - 1] = Float.POSITIVE_INFINITY; // row 2: +inf as the last element
        logits[3 * vocab] = Float.NEGATIVE_INFINITY;       // row 3: -inf first
        int best = 0;
        for (int i = 1; i < vocab; i++) if (logits[i] > logits[best]) best = i;
        try (DeviceMemory in = upload(device, logits); DeviceMemory out = poisoned(device, 4L * numRows);
             DeviceMemory scratch = poisoned(device, ArgmaxKernel.scratchBytes(numRows))) {
            new ArgmaxKernel(device).launch(in, out, scratch, numRows, vocab);
            assertArrayEquals(new int[] {best, -1, -1, -1}, out.toInts(numRows));
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 288, 768", "17, 288, 32000", "300, 2048, 512", "33, 4096, 6144"})
    void cublasLinearMatchesAJavaMatmulOnBf16Inputs(int rows, int inFeatures, int outFeatures) {
        CudaDevice device = device();
        float[] x = randomBf16Values(random, rows * inFeatures, 1f);
        float[] w = randomBf16Values(random, outFeatures * inFeatures, 0.05f);
        double[] expected = new double[rows * outFeatures];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < outFeatures; o++) {
                double sum = 0;
                for (int i = 0; i < inFeatures; i++) sum += (double) x[r * inFeatures + i] * w[o * inFeatures + i];
                expected[r * outFeatures + o] = sum;
            }
        }
        try (Cublas cublas = new Cublas(device); DeviceMemory xGpu = uploadBf16(device, x);
             DeviceMemory wGpu = uploadBf16(device, w); DeviceMemory y = poisoned(device, 4L * rows * outFeatures)) {
            cublas.linear(xGpu, wGpu, y, rows, inFeatures, outFeatures);
            double error = relativeError(y.toFloats(rows * outFeatures), expected);
            assertTrue(error < 1e-5, "gemm error " + error);
        }
    }

    @org.junit.jupiter.api.Test
    void graphReplaySeesNewInputsAndMatchesEagerLaunches() {
        CudaDevice device = device();
        int numTokens = 8;
        int intermediate = 4096;
        SwigluKernel swiglu = new SwigluKernel(device);
        try (DeviceMemory in = device.allocate(8L * numTokens * intermediate);
             DeviceMemory eagerOut = poisoned(device, 2L * numTokens * intermediate);
             DeviceMemory graphOut = poisoned(device, 2L * numTokens * intermediate)) {
            try (CudaGraph graph = CudaGraph.capture(device, () -> swiglu.launch(in, graphOut, numTokens, intermediate))) {
                for (int round = 0; round < 3; round++) {
                    in.copyFrom(randomFloats(random, 2 * numTokens * intermediate, 4f));
                    swiglu.launch(in, eagerOut, numTokens, intermediate);
                    graph.replay();
                    device.synchronize();
                    assertArrayEquals(eagerOut.toShorts(numTokens * intermediate), graphOut.toShorts(numTokens * intermediate));
                }
                int launches = 2000;
                long t0 = System.nanoTime();
                for (int i = 0; i < launches; i++) swiglu.launch(in, eagerOut, numTokens, intermediate);
                device.synchronize();
                long t1 = System.nanoTime();
                for (int i = 0; i < launches; i++) graph.replay();
                device.synchronize();
                long t2 = System.nanoTime();
                System.err.printf("[gpu-test] host+GPU time per small kernel: eager launch %.2f us, graph replay %.2f us%n",
                        (t1 - t0) / 1e3 / launches, (t2 - t1) / 1e3 / launches);
            }
        }
    }
}
