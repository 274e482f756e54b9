package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.F32_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.randomFloats;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pieces of the prefill traffic cut against Java: SwiGLU on bf16 gate/up (silu_mul_bf16_vec8 and its
 * fallback), cuBLAS with a bf16 output, and cuBLAS accumulating into a float32 residual (beta = 1).
 */
@Tag("gpu")
class PrefillTrafficGpuTest {
    private final Random random = new Random();

    /**
     * 8B decode and prefill widths, Qwen sizes, odd token counts; intermediate % 8 != 0 (1030, 6, 12, 516) takes
     * silu_mul_bf16. Each element within one bf16 ulp of Java's float math, and bit for bit what the float32
     * kernel gives on the same (bf16) values: the cut changes the rounding of gate/up, nothing after it.
     */
    @ParameterizedTest
    @CsvSource({"2048, 14336", "1, 14336", "8192, 3072", "4097, 4864", "17, 768", "3, 8", "3, 16", "5, 1030", "2, 6",
        "7, 12", "33, 516"})
    void swigluOnBf16GateUpMatchesJavaAndTheFloat32Kernel(int numTokens, int intermediate) {
        CudaDevice device = device();
        int count = numTokens * intermediate;
        float[] gateUp = randomBf16Values(random, 2 * count, 6f);
        gateUp[0] = -0.0f;  // signed zero, a large negative gate (exp overflows) and a large positive one
        gateUp[1 % intermediate] = -100f;
        gateUp[2 % intermediate] = 100f;
        short[] expected = new short[count];
        double[] exact = new double[count];
        for (int t = 0; t < numTokens; t++) {
            for (int i = 0; i < intermediate; i++) {
                float gate = gateUp[t * 2 * intermediate + i];
                float up = gateUp[t * 2 * intermediate + intermediate + i];
                expected[t * intermediate + i] = Bf16.fromFloat(gate / (1f + (float) Math.exp(-gate)) * up);
                exact[t * intermediate + i] = gate / (1 + Math.exp(-(double) gate)) * up;
            }
        }
        try (DeviceMemory inBf16 = uploadBf16(device, gateUp); DeviceMemory inF32 = upload(device, gateUp);
             DeviceMemory out = poisoned(device, 2L * count); DeviceMemory outF32Path = poisoned(device, 2L * count)) {
            new SwigluKernel(device).launchBf16(inBf16, out, numTokens, intermediate);
            new SwigluKernel(device).launch(inF32, outF32Path, numTokens, intermediate);
            short[] actual = out.toShorts(count);
            double error = relativeError(Bf16.toFloats(actual), exact);
            assertTrue(error < BF16_TOLERANCE, "swiglu bf16 error " + error);
            assertWithinOneUlp(actual, expected, intermediate, "vs Java");
            short[] f32Path = outF32Path.toShorts(count);
            for (int i = 0; i < count; i++) {
                if (actual[i] != f32Path[i]) {
                    throw new AssertionError("bf16 and float32 kernels differ at token " + i / intermediate + " column "
                            + i % intermediate + ": " + hex(actual[i]) + " vs " + hex(f32Path[i]));
                }
            }
        }
    }

    /**
     * cuBLAS's bf16 epilogue: each element within one bf16 ulp of cuBLAS's own float32 result rounded (the two
     * may take differently ordered kernels), and close to a Java matmul. 16 x 4096 x 28672 is the 8B gate/up.
     */
    @ParameterizedTest
    @CsvSource({"2, 288, 768", "17, 288, 3000", "300, 2048, 512", "16, 4096, 28672", "33, 40, 24", "5, 64, 1030"})
    void cublasBf16OutputIsTheFloat32ResultRounded(int rows, int inFeatures, int outFeatures) {
        CudaDevice device = device();
        float[] x = randomBf16Values(random, rows * inFeatures, 1f);
        float[] w = randomBf16Values(random, outFeatures * inFeatures, 0.05f);
        double[] expected = matmul(x, w, rows, inFeatures, outFeatures);
        int count = rows * outFeatures;
        try (Cublas cublas = new Cublas(device); DeviceMemory xGpu = uploadBf16(device, x);
             DeviceMemory wGpu = uploadBf16(device, w); DeviceMemory yF32 = poisoned(device, 4L * count);
             DeviceMemory yBf16 = poisoned(device, 2L * count)) {
            cublas.linear(xGpu, wGpu, yF32, rows, inFeatures, outFeatures);
            cublas.linearBf16(xGpu, wGpu, yBf16, rows, inFeatures, outFeatures);
            short[] actual = yBf16.toShorts(count);
            double error = relativeError(Bf16.toFloats(actual), expected);
            assertTrue(error < BF16_TOLERANCE, "bf16 gemm error " + error);
            short[] rounded = Bf16.fromFloats(yF32.toFloats(count));
            int same = assertWithinOneUlp(actual, rounded, outFeatures, "vs the float32 GEMM rounded");
            System.err.printf("[gpu-test] linearBf16 %dx%dx%d: rel. error %.2e, %d of %d bitwise the float32 result rounded%n",
                    rows, inFeatures, outFeatures, error, same, count);
        }
    }

    /**
     * y = residual + x · wᵀ in place, against Java, and against the old path (float32 GEMM, then the float add the
     * norm kernel makes): bitwise equal when cuBLAS runs the same kernel for beta = 1; the count is printed.
     */
    @ParameterizedTest
    @CsvSource({"2, 288, 288", "17, 768, 288", "300, 2048, 896", "32, 14336, 4096", "33, 40, 24", "5, 1030, 64"})
    void cublasAccumulateAddsTheProductToTheResidual(int rows, int inFeatures, int outFeatures) {
        CudaDevice device = device();
        float[] x = randomBf16Values(random, rows * inFeatures, 1f);
        float[] w = randomBf16Values(random, outFeatures * inFeatures, 0.05f);
        int count = rows * outFeatures;
        float[] residual = randomFloats(random, count, 3f);
        double[] expected = matmul(x, w, rows, inFeatures, outFeatures);
        for (int i = 0; i < count; i++) expected[i] += residual[i];
        try (Cublas cublas = new Cublas(device); DeviceMemory xGpu = uploadBf16(device, x);
             DeviceMemory wGpu = uploadBf16(device, w); DeviceMemory y = upload(device, residual);
             DeviceMemory proj = poisoned(device, 4L * count)) {
            cublas.linearAccumulate(xGpu, wGpu, y, rows, inFeatures, outFeatures);
            cublas.linear(xGpu, wGpu, proj, rows, inFeatures, outFeatures);
            float[] actual = y.toFloats(count);
            double error = relativeError(actual, expected);
            float[] product = proj.toFloats(count);
            int same = 0;
            for (int i = 0; i < count; i++) {
                if (Float.floatToRawIntBits(actual[i]) == Float.floatToRawIntBits(residual[i] + product[i])) same++;
            }
            System.err.printf("[gpu-test] linearAccumulate %dx%dx%d: rel. error %.2e, %d of %d bitwise the old path%n",
                    rows, inFeatures, outFeatures, error, same, count);
            assertTrue(error < F32_TOLERANCE, "accumulate error " + error + " (beta ignored would give about 1)");
        }
    }

    private static double[] matmul(float[] x, float[] w, int rows, int inFeatures, int outFeatures) {
        double[] y = new double[rows * outFeatures];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < outFeatures; o++) {
                double sum = 0;
                for (int i = 0; i < inFeatures; i++) sum += (double) x[r * inFeatures + i] * w[o * inFeatures + i];
                y[r * outFeatures + o] = sum;
            }
        }
        return y;
    }

    /** Fails at the first element more than one bf16 ulp away (NaN: unwritten); returns how many are equal. */
    private static int assertWithinOneUlp(short[] actual, short[] expected, int width, String what) {
        int same = 0;
        for (int i = 0; i < actual.length; i++) {
            boolean nan = Float.isNaN(Bf16.toFloat(actual[i]));
            if (nan || Math.abs(ordered(actual[i]) - ordered(expected[i])) > 1) {
                throw new AssertionError(what + ": row " + i / width + " column " + i % width + ": " + hex(actual[i])
                        + " vs " + hex(expected[i]) + (nan ? " (NaN: not written)" : ""));
            }
            if (actual[i] == expected[i]) same++;
        }
        return same;
    }

    /** bf16 bits on a line where neighbours differ by one (both zeros at 0), so that ulps subtract. */
    private static int ordered(short bits) {
        int magnitude = bits & 0x7fff;
        return (bits & 0x8000) != 0 ? -magnitude : magnitude;
    }

    private static String hex(short bits) { return Integer.toHexString(bits & 0xffff); }
}
