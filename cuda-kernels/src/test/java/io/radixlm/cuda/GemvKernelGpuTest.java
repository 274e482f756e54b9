package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.F32_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * gemv.cu against a float64 Java matmul on the same bf16 inputs: every row count 1..8 (each kernel
 * instantiation, with padding rows), inFeatures from one 16-byte chunk to more than one pass of the
 * unrolled loop (4104 = 513 chunks, 14336: the 8B down projection), outFeatures not a multiple of a
 * CTA's rows; outputs poisoned, including one row past the end that must stay untouched. Then the
 * dispatch of {@link Linear} (9 rows and unsupported shapes go to cuBLAS), raw sub-buffer addresses and
 * CUDA graph capture. Float32 accumulation of exact bf16 products: errors near 1e-7, bound 1e-5.
 */
@Tag("gpu")
class GemvKernelGpuTest {
    private final Random random = new Random();

    /** x (rows, in), w (out, in), both rounded to bf16, and y = x · wᵀ in float64. */
    private record Problem(int rows, int in, int out, float[] x, float[] w, double[] expected) { }

    private Problem problem(int rows, int in, int out) {
        float[] x = randomBf16Values(random, rows * in, 1f);
        float[] w = randomBf16Values(random, out * in, 0.05f);
        double[] expected = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double sum = 0;
                for (int i = 0; i < in; i++) sum += (double) x[r * in + i] * w[o * in + i];
                expected[r * out + o] = sum;
            }
        }
        return new Problem(rows, in, out, x, w, expected);
    }

    @ParameterizedTest(name = "rows {0}, in {1}, out {2}")
    @CsvSource({
        "1, 8, 1", "1, 40, 3", "1, 288, 77", "1, 2048, 1001", "1, 4104, 513", "1, 14336, 67",
        "2, 8, 5", "2, 288, 2", "2, 4104, 99",
        "3, 288, 1001", "3, 2048, 7",
        "4, 40, 4097", "4, 4104, 33", "4, 8, 2",
        "5, 2048, 129", "6, 288, 30", "7, 4104, 257",
        "8, 8, 9", "8, 40, 1", "8, 288, 1003", "8, 2048, 515", "8, 4104, 131", "8, 14336, 67"})
    void gemvMatchesAFloat64Matmul(int rows, int in, int out) {
        CudaDevice device = device();
        Problem p = problem(rows, in, out);
        // one row more than written: the kernel must leave it poisoned
        try (DeviceMemory x = uploadBf16(device, p.x()); DeviceMemory w = uploadBf16(device, p.w());
             DeviceMemory y = poisoned(device, 4L * (rows + 1) * out)) {
            new GemvKernel(device).launch(x, w, y, rows, in, out);
            float[] all = y.toFloats((rows + 1) * out);
            float[] actual = Arrays.copyOf(all, rows * out);
            double error = relativeError(actual, p.expected());
            assertTrue(error < F32_TOLERANCE, "gemv rows " + rows + " in " + in + " out " + out + ": relative error " + error);
            for (int i = rows * out; i < all.length; i++) {
                assertEquals(-1, Float.floatToRawIntBits(all[i]), "gemv wrote past its rows at element " + i);
            }
        }
    }

    @ParameterizedTest(name = "rows {0}")
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16})
    void linearGivesTheSameProductOnBothPaths(int rows) {
        CudaDevice device = device();
        Problem p = problem(rows, 1032, 1001);
        try (Cublas cublas = new Cublas(device); DeviceMemory x = uploadBf16(device, p.x());
             DeviceMemory w = uploadBf16(device, p.w());
             DeviceMemory yGemv = poisoned(device, 4L * rows * p.out());
             DeviceMemory yCublas = poisoned(device, 4L * rows * p.out())) {
            Linear withGemv = new Linear(device, cublas, true);
            Linear cublasOnly = new Linear(device, cublas, false);
            assertEquals(rows <= Linear.MAX_GEMV_ROWS, withGemv.usesGemv(x, w, rows, p.in()), "dispatch for " + rows + " rows");
            assertTrue(!cublasOnly.usesGemv(x, w, rows, p.in()), "the switch must send everything to cuBLAS");
            withGemv.apply(x, w, yGemv, rows, p.in(), p.out());
            cublasOnly.apply(x, w, yCublas, rows, p.in(), p.out());
            double gemvError = relativeError(yGemv.toFloats(rows * p.out()), p.expected());
            double cublasError = relativeError(yCublas.toFloats(rows * p.out()), p.expected());
            assertTrue(gemvError < F32_TOLERANCE, "Linear (gemv on) rows " + rows + ": relative error " + gemvError);
            assertTrue(cublasError < F32_TOLERANCE, "Linear (cuBLAS) rows " + rows + ": relative error " + cublasError);
        }
    }

    @Test
    void shapesTheKernelDoesNotTakeGoToCublas() {
        CudaDevice device = device();
        Problem p = problem(2, 36, 50); // 36: rows of 72 bytes, not whole 16-byte chunks
        try (Cublas cublas = new Cublas(device); DeviceMemory x = uploadBf16(device, p.x());
             DeviceMemory w = uploadBf16(device, p.w()); DeviceMemory y = poisoned(device, 4L * 2 * 50)) {
            Linear linear = new Linear(device, cublas, true);
            assertTrue(!linear.usesGemv(x, w, 2, 36));
            linear.apply(x, w, y, 2, 36, 50);
            double error = relativeError(y.toFloats(2 * 50), p.expected());
            assertTrue(error < F32_TOLERANCE, "cuBLAS fallback: relative error " + error);
        }
    }

    @Test
    void rawAddressesInsideLargerBuffersWork() {
        CudaDevice device = device();
        int rows = 3;
        int in = 520;
        int out = 45;
        Problem p = problem(rows, in, out);
        int lead = 8; // bf16 elements before the operands: 16 bytes, aligned but not to the allocation's 256
        float[] xPadded = new float[lead + p.x().length];
        float[] wPadded = new float[lead + p.w().length];
        System.arraycopy(p.x(), 0, xPadded, lead, p.x().length);
        System.arraycopy(p.w(), 0, wPadded, lead, p.w().length);
        try (DeviceMemory x = uploadBf16(device, xPadded); DeviceMemory w = uploadBf16(device, wPadded);
             DeviceMemory y = poisoned(device, 4L * (rows * out + 4))) {
            new GemvKernel(device).launch(x.address() + 2L * lead, w.address() + 2L * lead, y.address() + 16,
                    rows, in, out);
            float[] all = y.toFloats(rows * out + 4);
            for (int i = 0; i < 4; i++) assertEquals(-1, Float.floatToRawIntBits(all[i]), "gemv wrote before y at " + i);
            double error = relativeError(Arrays.copyOfRange(all, 4, all.length), p.expected());
            assertTrue(error < F32_TOLERANCE, "gemv on sub-buffers: relative error " + error);
        }
    }

    @Test
    void aCapturedGraphSeesNewInputsAndMatchesEagerLaunchesBitForBit() {
        CudaDevice device = device();
        int rows = 1;
        int in = 2048;
        int out = 2050;
        GemvKernel gemv = new GemvKernel(device);
        try (DeviceMemory x = device.allocate(2L * rows * in);
             DeviceMemory w = uploadBf16(device, randomBf16Values(random, out * in, 0.05f));
             DeviceMemory eager = poisoned(device, 4L * rows * out);
             DeviceMemory replayed = poisoned(device, 4L * rows * out);
             CudaGraph graph = CudaGraph.capture(device, () -> gemv.launch(x, w, replayed, rows, in, out))) {
            for (int round = 0; round < 3; round++) {
                x.copyFrom(Bf16.fromFloats(randomBf16Values(random, rows * in, 1f)));
                gemv.launch(x, w, eager, rows, in, out);
                graph.replay();
                device.synchronize();
                // no atomics: the same inputs give the same bits
                assertArrayEquals(eager.toFloats(rows * out), replayed.toFloats(rows * out), "round " + round);
            }
        }
    }
}
