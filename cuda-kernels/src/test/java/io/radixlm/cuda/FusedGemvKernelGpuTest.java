package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused 1-row GEMVs of gemv.cu against plain Java (rmsnorm rounded to bf16 as the kernel rounds it, then a
 * float64 matmul) and against the separate kernels they replace (fused_add_rms_norm, gemv_rows1, silu_mul):
 * inFeatures from one 16-byte chunk to 16384 (the largest normed row shared memory takes), rows not a multiple
 * of the 128-thread block's chunks, outFeatures and intermediate odd; outputs poisoned with one element past the
 * end that must stay so. The norm's 1/rms comes from rsqrtf: an ulp away from Java's, it may flip the bf16
 * rounding of an element of the normed row (rarely), which moves y by about 2⁻⁸/√in of its size, hence the
 * norm tolerance below.
 */
@Tag("gpu")
class FusedGemvKernelGpuTest {
    private static final float EPS = 1e-5f;
    private final Random random = new Random();

    private static double normTolerance(int in) { return Math.max(1e-4, 2.0 / 256 / Math.sqrt(in)); }

    /** bf16(residual / rms(residual) · weight), fused_add_rms_norm's formula in float32. */
    private static float[] normedBf16(float[] residual, float[] weight) {
        double sumSquares = 0;
        for (float r : residual) sumSquares += (double) r * r;
        float inv = (float) (1.0 / Math.sqrt((float) (sumSquares / residual.length) + EPS));
        float[] out = new float[residual.length];
        for (int i = 0; i < out.length; i++) out[i] = Bf16.round(residual[i] * inv * weight[i]);
        return out;
    }

    /** x (in) · w (out, in)ᵀ in float64. */
    private static double[] matvec(float[] x, float[] w, int in, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double sum = 0;
            for (int i = 0; i < in; i++) sum += (double) x[i] * w[o * in + i];
            y[o] = sum;
        }
        return y;
    }

    /** A residual row with an outlier or two, as real residual streams have, and a norm weight near 1. */
    private float[] residualRow(int in) {
        float[] r = randomFloats(random, in, 2f);
        r[random.nextInt(in)] = 40f;
        return r;
    }

    private float[] normWeight(int in) {
        float[] w = randomBf16Values(random, in, 0.5f);
        for (int i = 0; i < in; i++) w[i] = Bf16.round(1f + w[i]);
        return w;
    }

    @ParameterizedTest(name = "in {0}, out {1}")
    @CsvSource({"8, 1", "40, 3", "128, 384", "288, 77", "1032, 1001", "2056, 6", "4104, 513", "4096, 6144", "16384, 3"})
    void normGemvMatchesJavaAndTheSeparateKernels(int in, int out) {
        CudaDevice device = device();
        float[] residual = residualRow(in);
        float[] weight = normWeight(in);
        float[] w = randomBf16Values(random, out * in, 0.05f);
        double[] expected = matvec(normedBf16(residual, weight), w, in, out);
        try (DeviceMemory r = upload(device, residual); DeviceMemory nw = uploadBf16(device, weight);
             DeviceMemory wd = uploadBf16(device, w); DeviceMemory y = poisoned(device, 4L * (out + 1));
             DeviceMemory normed = poisoned(device, 2L * in); DeviceMemory yUnfused = poisoned(device, 4L * out)) {
            new FusedGemvKernel(device).launchNorm(r, nw, wd, y, in, out, EPS);
            new RmsNormKernel(device).launch(r, null, nw, normed, 1, in, EPS);
            new GemvKernel(device).launch(normed, wd, yUnfused, 1, in, out);
            float[] all = y.toFloats(out + 1);
            float[] actual = Arrays.copyOf(all, out);
            assertEquals(-1, Float.floatToRawIntBits(all[out]), "wrote past y");
            double error = relativeError(actual, expected);
            double vsUnfused = relativeError(actual, toDoubles(yUnfused.toFloats(out)));
            System.err.printf("[gpu-test] gemv_norm_rows1 in %d out %d: rel. error %.1e vs Java, %.1e vs rmsnorm + gemv_rows1%n",
                    in, out, error, vsUnfused);
            assertTrue(error < normTolerance(in), "vs Java: relative error " + error);
            assertTrue(vsUnfused < normTolerance(in), "vs the separate kernels: relative error " + vsUnfused);
            assertArrayEquals(residual, r.toFloats(in), "the norm must leave the residual alone");
        }
    }

    @ParameterizedTest(name = "in {0}, intermediate {1}")
    @CsvSource({"8, 1", "40, 5", "128, 256", "288, 77", "1032, 1001", "4104, 129", "4096, 1433", "16384, 3"})
    void normSwigluGemvMatchesJavaAndTheSeparateKernels(int in, int intermediate) {
        CudaDevice device = device();
        float[] residual = residualRow(in);
        float[] weight = normWeight(in);
        float[] w = randomBf16Values(random, 2 * intermediate * in, 0.05f); // gate rows, then up rows
        double[] gateUp = matvec(normedBf16(residual, weight), w, in, 2 * intermediate);
        double[] expected = new double[intermediate];
        for (int j = 0; j < intermediate; j++) {
            double gate = gateUp[j];
            expected[j] = gate / (1 + Math.exp(-gate)) * gateUp[intermediate + j];
        }
        try (DeviceMemory r = upload(device, residual); DeviceMemory nw = uploadBf16(device, weight);
             DeviceMemory wd = uploadBf16(device, w); DeviceMemory act = poisoned(device, 2L * (intermediate + 1));
             DeviceMemory normed = poisoned(device, 2L * in); DeviceMemory gateUpUnfused = poisoned(device, 8L * intermediate);
             DeviceMemory actUnfused = poisoned(device, 2L * intermediate)) {
            new FusedGemvKernel(device).launchNormSwiglu(r, nw, wd, act, in, intermediate, EPS);
            new RmsNormKernel(device).launch(r, null, nw, normed, 1, in, EPS);
            new GemvKernel(device).launch(normed, wd, gateUpUnfused, 1, in, 2 * intermediate);
            new SwigluKernel(device).launch(gateUpUnfused, actUnfused, 1, intermediate);
            short[] bits = act.toShorts(intermediate + 1);
            assertEquals((short) -1, bits[intermediate], "wrote past act");
            float[] actual = downloadBf16(act, intermediate);
            float[] unfused = downloadBf16(actUnfused, intermediate);
            double error = relativeError(actual, expected);
            double vsUnfused = relativeError(actual, toDoubles(unfused));
            int bitwiseEqual = 0;
            for (int j = 0; j < intermediate; j++) if (Float.compare(actual[j], unfused[j]) == 0) bitwiseEqual++;
            System.err.printf("[gpu-test] gemv_norm_swiglu_rows1 in %d intermediate %d: rel. error %.1e vs Java,"
                    + " %.1e vs rmsnorm + gemv_rows1 + silu_mul (%d of %d bitwise equal)%n",
                    in, intermediate, error, vsUnfused, bitwiseEqual, intermediate);
            // act is bf16: one rounding of the output on top of the norm's
            assertTrue(error < BF16_TOLERANCE, "vs Java: relative error " + error);
            assertTrue(vsUnfused < BF16_TOLERANCE, "vs the separate kernels: relative error " + vsUnfused);
        }
    }

    @ParameterizedTest(name = "in {0}, out {1}")
    @CsvSource({"8, 1", "40, 3", "288, 77", "1032, 1001", "4104, 513", "4096, 4096", "14336, 67"})
    void addGemvAddsTheProductIntoY(int in, int out) {
        CudaDevice device = device();
        float[] x = randomBf16Values(random, in, 1f);
        float[] w = randomBf16Values(random, out * in, 0.05f);
        float[] before = randomFloats(random, out, 3f);
        double[] product = matvec(x, w, in, out);
        double[] expected = new double[out];
        for (int o = 0; o < out; o++) expected[o] = before[o] + product[o];
        float[] withTail = Arrays.copyOf(before, out + 1);
        withTail[out] = Float.intBitsToFloat(-1);
        try (DeviceMemory xd = uploadBf16(device, x); DeviceMemory wd = uploadBf16(device, w);
             DeviceMemory y = upload(device, withTail); DeviceMemory proj = poisoned(device, 4L * out)) {
            new FusedGemvKernel(device).launchAdd(xd, wd, y, in, out);
            new GemvKernel(device).launch(xd, wd, proj, 1, in, out);
            float[] all = y.toFloats(out + 1);
            assertEquals(-1, Float.floatToRawIntBits(all[out]), "wrote past y");
            float[] actual = Arrays.copyOf(all, out);
            double error = relativeError(actual, expected);
            assertTrue(error < F32_TOLERANCE, "relative error " + error);
            // the same dot products as gemv_rows1, then the same f32 add fused_add_rms_norm does: the same bits
            float[] projected = proj.toFloats(out);
            for (int o = 0; o < out; o++) {
                assertEquals(before[o] + projected[o], actual[o], "output " + o + " differs from residual + gemv_rows1");
            }
        }
    }

    @Test
    void aCapturedGraphOfTheFusedLayerSequenceMatchesEagerLaunchesBitForBit() {
        CudaDevice device = device();
        int hidden = 520;
        int intermediate = 1400;
        FusedGemvKernel fused = new FusedGemvKernel(device);
        float[] residual = residualRow(hidden);
        try (DeviceMemory nw = uploadBf16(device, normWeight(hidden));
             DeviceMemory gateUp = uploadBf16(device, randomBf16Values(random, 2 * intermediate * hidden, 0.05f));
             DeviceMemory down = uploadBf16(device, randomBf16Values(random, hidden * intermediate, 0.05f));
             DeviceMemory eager = device.allocate(4L * hidden); DeviceMemory replayed = device.allocate(4L * hidden);
             DeviceMemory actEager = poisoned(device, 2L * intermediate);
             DeviceMemory actReplayed = poisoned(device, 2L * intermediate);
             CudaGraph graph = CudaGraph.capture(device, () -> {
                 fused.launchNormSwiglu(replayed, nw, gateUp, actReplayed, hidden, intermediate, EPS);
                 fused.launchAdd(actReplayed, down, replayed, intermediate, hidden);
             })) {
            for (int round = 0; round < 3; round++) {
                residual = residualRow(hidden);
                eager.copyFrom(residual);
                replayed.copyFrom(residual);
                fused.launchNormSwiglu(eager, nw, gateUp, actEager, hidden, intermediate, EPS);
                fused.launchAdd(actEager, down, eager, intermediate, hidden);
                graph.replay();
                device.synchronize();
                assertArrayEquals(eager.toFloats(hidden), replayed.toFloats(hidden), "round " + round);
            }
        }
    }

    @Test
    void refusesRowsTheKernelCannotHold() {
        CudaDevice device = device();
        FusedGemvKernel fused = new FusedGemvKernel(device);
        try (DeviceMemory big = device.allocate(1L << 20)) {
            assertThrows(IllegalArgumentException.class, () -> fused.launchNorm(big, big, big, big, 36, 4, EPS));
            int tooWide = FusedGemvKernel.MAX_NORM_IN + 8;
            assertThrows(IllegalArgumentException.class, () -> fused.launchNorm(big, big, big, big, tooWide, 1, EPS));
            assertThrows(IllegalArgumentException.class, () -> fused.launchAdd(big, big, big, 12, 4));
        }
    }
}
