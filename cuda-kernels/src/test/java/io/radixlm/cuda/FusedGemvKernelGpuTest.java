package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused 1-row GEMVs of gemv.cu against float64 Java references of what they fuse: the norm (sum of
 * squares over the whole input, scale rsqrt(mean + eps), times the norm weight), the product, bias, residual
 * add, SwiGLU of gate row p with up row p, and rotate-half RoPE with the q/k/v routing to q and the KV slot.
 * Inputs from one 16-byte chunk to more than one pass of the unrolled loop (4104 = 513 chunks); outputs of
 * 1,024 rows or more take 4 or 8 rows a CTA (FusedGemvKernel.rowsPerCta), the others 2, and so every width of CTA
 * runs each kernel, with a last CTA of fewer rows where the outputs allow one; outputs poisoned, with elements past
 * the end (and every other KV slot) that must stay untouched. float32
 * accumulation: errors near 1e-7, bound 1e-5; bf16 outputs within one rounding.
 */
@Tag("gpu")
class FusedGemvKernelGpuTest {
    private static final double F32_BOUND = 1e-5;
    private static final float EPS = 1e-5f;
    private final Random random = new Random();

    /** w (out, in) · v (in) in float64. */
    private static double[] matvec(float[] w, double[] v, int out) {
        int in = v.length;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double sum = 0;
            for (int i = 0; i < in; i++) sum += (double) w[o * in + i] * v[i];
            y[o] = sum;
        }
        return y;
    }

    /** RMSNorm(residual) · weight in float64, without rounding to bf16 (the fused kernels do not round it). */
    private static double[] normed(float[] residual, float[] weight) {
        double squares = 0;
        for (float r : residual) squares += (double) r * r;
        double inv = 1 / Math.sqrt(squares / residual.length + EPS);
        double[] out = new double[residual.length];
        for (int i = 0; i < out.length; i++) out[i] = residual[i] * inv * weight[i];
        return out;
    }

    private static double[] toDoubles(float[] v) { return GpuTestSupport.toDoubles(v); }

    @ParameterizedTest(name = "in {0}, out {1}, bias {2}")
    @CsvSource({"8, 1, false", "40, 3, true", "288, 77, false", "2048, 1001, true", "4096, 6, true", "4104, 514, false",
            "8192, 33, false", "14336, 67, true", "2048, 2050, true", "4096, 2053, false", "1024, 1030, true",
            "8192, 2050, true", "14336, 1030, false"})
    void residualAddsTheProductAndBias(int in, int out, boolean withBias) {
        CudaDevice device = device();
        float[] x = randomBf16Values(random, in, 1f);
        float[] w = randomBf16Values(random, out * in, 0.05f);
        float[] bias = withBias ? randomFloats(random, out, 0.5f) : null;
        float[] residual = randomFloats(random, out, 2f);
        double[] expected = matvec(w, toDoubles(x), out);
        for (int o = 0; o < out; o++) expected[o] += residual[o] + (withBias ? bias[o] : 0);
        float[] withTail = Arrays.copyOf(residual, out + 1);
        withTail[out] = Float.NaN; // past the end: must stay NaN
        try (DeviceMemory xm = uploadBf16(device, x); DeviceMemory wm = uploadBf16(device, w);
             DeviceMemory bm = withBias ? upload(device, bias) : null; DeviceMemory rm = upload(device, withTail)) {
            new FusedGemvKernel(device).residual(xm, wm, bm, rm, in, out);
            float[] all = rm.toFloats(out + 1);
            double error = relativeError(Arrays.copyOf(all, out), expected);
            assertTrue(error < F32_BOUND, "residual in " + in + " out " + out + ": relative error " + error);
            assertTrue(Float.isNaN(all[out]), "wrote past the residual");
        }
    }

    /** The _a2 kernels (two rounds of loads ahead) give the one-round kernels' bits: the same chunks, in the same order. */
    @ParameterizedTest(name = "in {0}, out {1}, rows {2}")
    @CsvSource({"2048, 2048, 8", "2048, 1001, 2", "4104, 514, 4", "14336, 67, 8", "1024, 1030, 4", "8, 3, 2"})
    void residualTwoRoundsAheadGivesTheSameBits(int in, int out, int rows) {
        CudaDevice device = device();
        float[] x = randomBf16Values(random, in, 1f);
        float[] w = randomBf16Values(random, out * in, 0.05f);
        float[] bias = randomFloats(random, out, 0.5f);
        float[] residual = randomFloats(random, out, 2f);
        String plain = "gemv_residual_rows1" + (rows == 2 ? "" : "_o" + rows);
        try (DeviceMemory xm = uploadBf16(device, x); DeviceMemory wm = uploadBf16(device, w);
             DeviceMemory bm = upload(device, bias); DeviceMemory r1 = upload(device, residual);
             DeviceMemory r2 = upload(device, residual)) {
            for (String kernel : new String[] {plain, plain + "_a2"}) {
                device.launch(kernel, Dim3.of((out + rows - 1) / rows), Dim3.of(128), 0, new KernelArgs()
                        .ptr(xm).ptr(wm).ptr(kernel.endsWith("_a2") ? r2 : r1).ptr(bm).i32(in).i32(out));
            }
            float[] expected = r1.toFloats(out);
            float[] actual = r2.toFloats(out);
            assertArrayEqualsBits(expected, actual, plain + "_a2 against " + plain);
            boolean changed = false;
            for (int i = 0; i < out; i++) changed |= expected[i] != residual[i];
            assertTrue(changed, "the kernels left the residual as it was");
        }
    }

    @ParameterizedTest(name = "in {0}, out {1}")
    @CsvSource({"8, 1", "40, 4", "288, 77", "2048, 1001", "4104, 514", "4096, 9", "2048, 2060", "288, 1025"})
    void normScalesTheProductByTheRmsOfTheResidual(int in, int out) {
        CudaDevice device = device();
        float[] residual = randomFloats(random, in, 3f);
        float[] weight = randomBf16Values(random, in, 2f);
        float[] w = randomBf16Values(random, out * in, 0.05f);
        double[] expected = matvec(w, normed(residual, weight), out);
        try (DeviceMemory rm = upload(device, residual); DeviceMemory gm = uploadBf16(device, weight);
             DeviceMemory wm = uploadBf16(device, w); DeviceMemory y = poisoned(device, 4L * (out + 1))) {
            new FusedGemvKernel(device).norm(rm, gm, wm, y, in, out, EPS);
            float[] all = y.toFloats(out + 1);
            double error = relativeError(Arrays.copyOf(all, out), expected);
            assertTrue(error < F32_BOUND, "norm in " + in + " out " + out + ": relative error " + error);
            assertEquals(-1, Float.floatToRawIntBits(all[out]), "wrote past y");
            assertArrayEqualsBits(residual, rm.toFloats(in), "the residual is an input only");
        }
    }

    @ParameterizedTest(name = "in {0}, intermediate {1}")
    @CsvSource({"8, 1", "40, 3", "288, 77", "2048, 1001", "4104, 256", "2048, 1024", "1024, 516", "4096, 1028"})
    void normSwigluPairsGateRowPWithUpRowP(int in, int intermediate) {
        CudaDevice device = device();
        float[] residual = randomFloats(random, in, 3f);
        float[] weight = randomBf16Values(random, in, 2f);
        float[] w = randomBf16Values(random, 2 * intermediate * in, 0.1f);
        double[] y = matvec(w, normed(residual, weight), 2 * intermediate);
        double[] expected = new double[intermediate];
        for (int p = 0; p < intermediate; p++) {
            double g = y[p];
            expected[p] = g / (1 + Math.exp(-g)) * y[intermediate + p];
        }
        try (DeviceMemory rm = upload(device, residual); DeviceMemory gm = uploadBf16(device, weight);
             DeviceMemory wm = uploadBf16(device, w); DeviceMemory act = poisoned(device, 2L * (intermediate + 1))) {
            new FusedGemvKernel(device).normSwiglu(rm, gm, wm, act, in, intermediate, EPS);
            float[] all = downloadBf16(act, intermediate + 1);
            double error = relativeError(Arrays.copyOf(all, intermediate), expected);
            assertTrue(error < BF16_TOLERANCE, "swiglu in " + in + " intermediate " + intermediate + ": relative error " + error);
            assertTrue(Float.isNaN(all[intermediate]), "wrote past act");
        }
    }

    @ParameterizedTest(name = "in {0}, heads {1}/{2}, headDim {3}, bias {4}, position {5}")
    @CsvSource({
        "64, 4, 2, 64, false, 0", "288, 6, 6, 48, true, 17", "2048, 32, 8, 64, false, 1000",
        "4104, 32, 8, 128, true, 8191", "40, 2, 1, 96, false, 5", "1024, 8, 1, 32, true, 300",
        "1024, 16, 8, 64, true, 77", "4096, 32, 8, 128, false, 4000"})
    void normRopeRotatesQkAndWritesTheKvSlot(int in, int numHeads, int numKvHeads, int headDim, boolean withBias,
                                             int position) {
        CudaDevice device = device();
        int qDim = numHeads * headDim;
        int kvDim = numKvHeads * headDim;
        int width = qDim + 2 * kvDim;
        int numSlots = 5;
        int slot = 3;
        float[] residual = randomFloats(random, in, 3f);
        float[] weight = randomBf16Values(random, in, 2f);
        float[] w = randomBf16Values(random, width * in, 0.1f);
        float[] bias = withBias ? randomFloats(random, width, 0.5f) : null;
        double[] invFreq = new double[headDim / 2];
        for (int i = 0; i < invFreq.length; i++) invFreq[i] = Math.pow(10000, -2.0 * i / headDim);
        double[] y = matvec(w, normed(residual, weight), width);
        if (withBias) for (int i = 0; i < width; i++) y[i] += bias[i];
        double[] rotated = rotateHalf(y, qDim + kvDim, headDim, position, invFreq);
        var shape = new RopeKvWriteKernel.Shape(numHeads, numKvHeads, headDim, numSlots);
        // q and k rows (and bias) in pair order, as CudaWeights uploads them
        float[] wPairOrder = CudaWeights.concat(RopePairOrder.rows(Arrays.copyOf(w, qDim * in), numHeads, headDim, in),
                RopePairOrder.rows(Arrays.copyOfRange(w, qDim * in, (qDim + kvDim) * in), numKvHeads, headDim, in),
                Arrays.copyOfRange(w, (qDim + kvDim) * in, width * in));
        float[] biasPairOrder = withBias ? CudaWeights.concat(RopePairOrder.rows(Arrays.copyOf(bias, qDim), numHeads, headDim, 1),
                RopePairOrder.rows(Arrays.copyOfRange(bias, qDim, qDim + kvDim), numKvHeads, headDim, 1),
                Arrays.copyOfRange(bias, qDim + kvDim, width)) : null;
        try (DeviceMemory rm = upload(device, residual); DeviceMemory gm = uploadBf16(device, weight);
             DeviceMemory wm = uploadBf16(device, wPairOrder); DeviceMemory bm = withBias ? upload(device, biasPairOrder) : null;
             DeviceMemory positions = upload(device, new int[] {position});
             DeviceMemory slots = upload(device, new int[] {slot});
             DeviceMemory freq = device.allocate(8L * invFreq.length);
             DeviceMemory angles = poisoned(device, 8L * invFreq.length);
             DeviceMemory q = poisoned(device, 4L * (qDim + 1));
             DeviceMemory k = poisoned(device, 2L * numSlots * kvDim);
             DeviceMemory v = poisoned(device, 2L * numSlots * kvDim)) {
            freq.copyFrom(invFreq);
            FusedGemvKernel kernel = new FusedGemvKernel(device);
            kernel.ropeAngles(positions, freq, angles, headDim);
            kernel.normRope(rm, gm, wm, bm, new FusedGemvKernel.RopeTarget(angles, slots, q, k, v, shape), in, EPS);
            float[] qAll = q.toFloats(qDim + 1);
            double qError = relativeError(Arrays.copyOf(qAll, qDim), Arrays.copyOfRange(rotated, 0, qDim));
            assertTrue(qError < F32_BOUND, "q: relative error " + qError);
            assertEquals(-1, Float.floatToRawIntBits(qAll[qDim]), "wrote past q");
            assertSlot(downloadBf16(k, numSlots * kvDim), Arrays.copyOfRange(rotated, qDim, qDim + kvDim), slot, kvDim, "k");
            assertSlot(downloadBf16(v, numSlots * kvDim), Arrays.copyOfRange(y, qDim + kvDim, width), slot, kvDim, "v");
        }
    }

    /** Rotate-half RoPE of the first rotatedWidth values (q then k heads) at position; the rest as they are. */
    private static double[] rotateHalf(double[] y, int rotatedWidth, int headDim, int position, double[] invFreq) {
        double[] out = y.clone();
        int half = headDim / 2;
        for (int head = 0; head < rotatedWidth / headDim; head++) {
            for (int i = 0; i < half; i++) {
                int a = head * headDim + i;
                // the kernels round the float32 inverse frequency's angle to float, as HF does
                double angle = (double) position * invFreq[i];
                double c = (float) Math.cos(angle);
                double s = (float) Math.sin(angle);
                out[a] = y[a] * c - y[a + half] * s;
                out[a + half] = y[a + half] * c + y[a] * s;
            }
        }
        return out;
    }

    /** The slot's kvDim values match expected; every other slot is still poisoned. */
    private static void assertSlot(float[] cache, double[] expected, int slot, int kvDim, String what) {
        double error = relativeError(Arrays.copyOfRange(cache, slot * kvDim, (slot + 1) * kvDim), expected);
        assertTrue(error < BF16_TOLERANCE, what + " slot: relative error " + error);
        for (int i = 0; i < cache.length; i++) {
            if (i / kvDim != slot) assertTrue(Float.isNaN(cache[i]), what + " written outside its slot at " + i);
        }
    }

    private static void assertArrayEqualsBits(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]), what + " at " + i);
        }
    }
}
