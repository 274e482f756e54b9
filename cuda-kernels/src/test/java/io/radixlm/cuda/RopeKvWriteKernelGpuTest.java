package io.radixlm.cuda;

import io.radixlm.model.RopeConfig;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.randomFloats;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RoPE (default, llama3) with optional bias and qwen3 q/k norm, and the K/V write through the slot mapping;
 * both kernel generations against Java, and v2 bit for bit against v1.
 */
@Tag("gpu")
class RopeKvWriteKernelGpuTest {
    private final Random random = new Random();

    @ParameterizedTest
    @CsvSource({
            "1, 8, 8, 64, default, false, false",
            "17, 32, 8, 64, llama3, false, false",
            "300, 14, 2, 64, default, true, false",
            "16, 16, 2, 128, default, false, true",
            "4097, 8, 1, 128, llama3, true, true",
            "15, 4, 4, 128, default, false, false",
            "33, 6, 6, 48, default, false, false",
            "7, 4, 2, 32, llama3, true, true",
            // prefill sizes: 8B (llama3), Qwen3-0.6B (q/k norm), Qwen2-7B (bias); every head dim with norm and bias
            "8192, 32, 8, 128, llama3, false, false",
            "8192, 16, 8, 128, default, false, true",
            "8192, 28, 4, 128, default, true, false",
            "2049, 32, 8, 64, default, true, true",
            "2049, 12, 4, 96, llama3, true, true",
            "1000, 8, 2, 48, default, true, true",
            "513, 16, 4, 32, llama3, true, true",
            // decode (a block per head) and a decode batch; head dims that only v1's general path used to take
            "1, 32, 8, 128, llama3, false, false",
            "1, 16, 8, 128, default, false, true",
            "32, 32, 8, 128, llama3, true, true",
            "9, 4, 2, 80, default, true, true",
            "5, 4, 1, 256, default, true, true",
            "3, 2, 1, 2, default, true, true"})
    void matchesAJavaRotationAndWritesOnlyTheMappedSlots(int numTokens, int numHeads, int numKvHeads, int headDim,
                                                        String ropeType, boolean withBias, boolean withQkNorm) {
        CudaDevice device = device();
        RopeConfig rope = ropeType.equals("llama3")
                ? new RopeConfig("llama3", 500000, 32, 1, 4, 8192) : RopeConfig.defaultRope(10000);
        double[] invFreq = rope.inverseFrequencies(headDim);
        int qDim = numHeads * headDim;
        int kvDim = numKvHeads * headDim;
        int width = qDim + 2 * kvDim;
        int numSlots = numTokens + 37;
        float eps = 1e-6f;
        float[] qkv = randomFloats(random, numTokens * width, 2f);
        float[] bias = randomFloats(random, width, 0.5f);
        float[] qNorm = randomBf16Values(random, headDim, 2f);
        float[] kNorm = randomBf16Values(random, headDim, 2f);
        int[] positions = new int[numTokens];
        int[] slots = shuffledSlots(numSlots, numTokens);
        int firstPosition = numTokens == 1 ? 4096 : numTokens % 2 == 1 ? 777 : 0;  // odd counts: a cached prefix
        for (int t = 0; t < numTokens; t++) positions[t] = t + firstPosition;

        double[] expectedQ = new double[numTokens * qDim];
        double[] expectedK = new double[numSlots * kvDim];
        double[] expectedV = new double[numSlots * kvDim];
        for (int t = 0; t < numTokens; t++) {
            for (int h = 0; h < numHeads + numKvHeads; h++) {
                boolean isQuery = h < numHeads;
                int col = isQuery ? h * headDim : qDim + (h - numHeads) * headDim;
                double[] x = new double[headDim];
                for (int i = 0; i < headDim; i++) x[i] = qkv[t * width + col + i] + (withBias ? bias[col + i] : 0);
                if (withQkNorm) normalise(x, isQuery ? qNorm : kNorm, eps);
                double[] rotated = rotate(x, positions[t], invFreq);
                if (isQuery) {
                    System.arraycopy(rotated, 0, expectedQ, t * qDim + h * headDim, headDim);
                } else {
                    int kvHead = h - numHeads;
                    int vCol = qDim + kvDim + kvHead * headDim;
                    for (int i = 0; i < headDim; i++) {
                        int offset = (slots[t] * numKvHeads + kvHead) * headDim + i;
                        expectedK[offset] = rotated[i];
                        expectedV[offset] = qkv[t * width + vCol + i] + (withBias ? bias[vCol + i] : 0);
                    }
                }
            }
        }

        // the kernel reads q and k heads in pair order (as CudaWeights uploads their projection rows)
        float[] qkvPairOrder = new float[qkv.length];
        float[] biasPairOrder = new float[width];
        for (int col = 0; col < width; col++) {
            int from = col < qDim + kvDim ? col - col % headDim + RopePairOrder.featureAt(col % headDim, headDim) : col;
            biasPairOrder[col] = bias[from];
            for (int t = 0; t < numTokens; t++) qkvPairOrder[t * width + col] = qkv[t * width + from];
        }
        try (DeviceMemory qkvGpu = upload(device, qkvPairOrder); DeviceMemory biasGpu = upload(device, biasPairOrder);
             DeviceMemory positionsGpu = upload(device, positions); DeviceMemory slotsGpu = upload(device, slots);
             DeviceMemory invFreqGpu = device.allocate(8L * invFreq.length);
             DeviceMemory qNormGpu = uploadBf16(device, qNorm); DeviceMemory kNormGpu = uploadBf16(device, kNorm)) {
            invFreqGpu.copyFrom(invFreq);
            RopeKvWriteKernel.Shape shape = new RopeKvWriteKernel.Shape(numHeads, numKvHeads, headDim, numSlots);
            int[][] bits = new int[2][];
            short[][] kBits = new short[2][];
            short[][] vBits = new short[2][];
            for (ElementwiseVariant variant : ElementwiseVariant.values()) {
                try (DeviceMemory qOut = poisoned(device, 4L * numTokens * qDim);
                     DeviceMemory kCache = poisoned(device, 2L * numSlots * kvDim);
                     DeviceMemory vCache = poisoned(device, 2L * numSlots * kvDim)) {
                    new RopeKvWriteKernel(device, variant).launch(qkvGpu, withBias ? biasGpu : null, positionsGpu, slotsGpu,
                            invFreqGpu, withQkNorm ? qNormGpu : null, withQkNorm ? kNormGpu : null, qOut, kCache, vCache,
                            numTokens, shape, eps);
                    double qError = relativeError(qOut.toFloats(numTokens * qDim), expectedQ);
                    assertTrue(qError < 1e-5, variant + " q error " + qError);
                    assertCacheMatches(downloadBf16(kCache, numSlots * kvDim), expectedK, slots, kvDim, variant + " k");
                    assertCacheMatches(downloadBf16(vCache, numSlots * kvDim), expectedV, slots, kvDim, variant + " v");
                    bits[variant.ordinal()] = qOut.toInts(numTokens * qDim);
                    kBits[variant.ordinal()] = kCache.toShorts(numSlots * kvDim);
                    vBits[variant.ordinal()] = vCache.toShorts(numSlots * kvDim);
                }
            }
            assertSameBits(bits[0], bits[1], numHeads * headDim, headDim, "q");
            assertArrayEquals(kBits[0], kBits[1], "k cache bits of v1 and v2");
            assertArrayEquals(vBits[0], vBits[1], "v cache bits of v1 and v2");
            if (numTokens == 1) {  // as the fused decode step launches it: the angles from rope_angles, the same bits
                try (DeviceMemory angles = poisoned(device, 4L * headDim);
                     DeviceMemory qOut = poisoned(device, 4L * qDim);
                     DeviceMemory kCache = poisoned(device, 2L * numSlots * kvDim);
                     DeviceMemory vCache = poisoned(device, 2L * numSlots * kvDim)) {
                    new FusedGemvKernel(device).ropeAngles(positionsGpu, invFreqGpu, angles, headDim);
                    new RopeKvWriteKernel(device, ElementwiseVariant.V2).launch(qkvGpu, withBias ? biasGpu : null,
                            positionsGpu, slotsGpu, invFreqGpu, withQkNorm ? qNormGpu : null, withQkNorm ? kNormGpu : null,
                            qOut, kCache, vCache, 1, shape, eps, angles);
                    assertSameBits(bits[1], qOut.toInts(qDim), qDim, headDim, "q with and without precomputed angles");
                    assertArrayEquals(kBits[1], kCache.toShorts(numSlots * kvDim), "k cache bits with precomputed angles");
                    assertArrayEquals(vBits[1], vCache.toShorts(numSlots * kvDim), "v cache bits with precomputed angles");
                }
            }
        }
    }

    /** v2 claims v1's bits: names the first element (token, head, i) where they differ. */
    private static void assertSameBits(int[] v1, int[] v2, int rowWidth, int headDim, String what) {
        for (int n = 0; n < v1.length; n++) {
            if (v1[n] != v2[n]) {
                throw new AssertionError(what + " of v1 and v2 differ at token " + n / rowWidth + " head " + n % rowWidth / headDim
                        + " element " + n % headDim + ": " + Float.intBitsToFloat(v1[n]) + " vs " + Float.intBitsToFloat(v2[n]));
            }
        }
    }

    /** Written slots match; every other slot must still hold the poison (NaN). */
    private static void assertCacheMatches(float[] actual, double[] expected, int[] slots, int slotWidth, String what) {
        boolean[] written = new boolean[actual.length / slotWidth];
        for (int slot : slots) written[slot] = true;
        int numWritten = slots.length * slotWidth;
        float[] writtenActual = new float[numWritten];
        double[] writtenExpected = new double[numWritten];
        int n = 0;
        for (int slot = 0; slot < written.length; slot++) {
            for (int i = 0; i < slotWidth; i++) {
                float value = actual[slot * slotWidth + i];
                if (written[slot]) {
                    writtenActual[n] = value;
                    writtenExpected[n++] = expected[slot * slotWidth + i];
                } else {
                    assertTrue(Float.isNaN(value), what + " cache slot " + slot + " was written but is not mapped");
                }
            }
        }
        double error = relativeError(writtenActual, writtenExpected);
        assertTrue(error < BF16_TOLERANCE, what + " cache error " + error);
    }

    private int[] shuffledSlots(int numSlots, int count) {
        int[] all = new int[numSlots];
        for (int i = 0; i < numSlots; i++) all[i] = i;
        for (int i = numSlots - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int tmp = all[i];
            all[i] = all[j];
            all[j] = tmp;
        }
        return java.util.Arrays.copyOf(all, count);
    }

    private static void normalise(double[] x, float[] weight, float eps) {
        double sumSquares = 0;
        for (double v : x) sumSquares += v * v;
        double inv = 1 / Math.sqrt(sumSquares / x.length + eps);
        for (int i = 0; i < x.length; i++) x[i] = x[i] * inv * weight[i];
    }

    /** HF rotate-half: pair (i, i + half) rotated by position · invFreq[i]. */
    private static double[] rotate(double[] x, int position, double[] invFreq) {
        int half = x.length / 2;
        double[] out = new double[x.length];
        for (int i = 0; i < half; i++) {
            double angle = position * invFreq[i];
            double cos = Math.cos(angle);
            double sin = Math.sin(angle);
            out[i] = x[i] * cos - x[i + half] * sin;
            out[i + half] = x[i + half] * cos + x[i] * sin;
        }
        return out;
    }
}
