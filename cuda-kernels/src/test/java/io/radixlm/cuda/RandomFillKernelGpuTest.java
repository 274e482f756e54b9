package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The benchmark's weights come from fill_uniform_*: every element written (the buffer is poisoned with
 * NaN first), inside center ± scale, with the moments of a uniform distribution (mean center, variance
 * scale²/3), the same for the same seed and different for another.
 */
@Tag("gpu")
class RandomFillKernelGpuTest {
    private static final int COUNT = 1 << 20;

    @Test
    void bf16FillIsUniformAndReproducible() {
        CudaDevice device = GpuTestSupport.device();
        RandomFillKernel fill = new RandomFillKernel(device);
        try (DeviceMemory a = device.allocate(2L * COUNT + 2); DeviceMemory b = device.allocate(2L * COUNT)) {
            a.fill((byte) 0xFF);
            fill.bf16(a, COUNT, 7, 1f, 0.05f);
            float[] values = Bf16.toFloats(a.toShorts(COUNT + 1));
            assertTrue(Float.isNaN(values[COUNT]), "the element past count must stay untouched");
            checkUniform(java.util.Arrays.copyOf(values, COUNT), 1.0, 0.05, 0.004); // bf16 spacing near 1 is 2^-7
            b.fill((byte) 0xFF);
            fill.bf16(b, COUNT, 7, 1f, 0.05f);
            assertArrayEquals(a.toShorts(COUNT), b.toShorts(COUNT), "same seed, same values");
            fill.bf16(b, COUNT, 8, 1f, 0.05f);
            assertFalse(java.util.Arrays.equals(a.toShorts(COUNT), b.toShorts(COUNT)), "another seed, other values");
        }
    }

    @Test
    void f32FillIsUniform() {
        CudaDevice device = GpuTestSupport.device();
        try (DeviceMemory out = device.allocate(4L * COUNT)) {
            out.fill((byte) 0xFF);
            new RandomFillKernel(device).f32(out, COUNT, 3, 0f, 2f);
            checkUniform(out.toFloats(COUNT), 0.0, 2.0, 1e-6);
        }
    }

    private static void checkUniform(float[] values, double center, double scale, double rounding) {
        double sum = 0;
        double sumSquares = 0;
        for (float v : values) {
            assertTrue(v >= center - scale - rounding && v <= center + scale + rounding, "value " + v);
            sum += v;
            sumSquares += (v - center) * (v - center);
        }
        int n = values.length;
        double mean = sum / n;
        double variance = sumSquares / n;
        // standard error of the mean: scale / sqrt(3n); allow 6 of them (plus rounding)
        assertEquals(center, mean, 6 * scale / Math.sqrt(3.0 * n) + rounding / 10, "mean");
        assertEquals(scale * scale / 3, variance, 0.01 * scale * scale + rounding * scale, "variance");
    }
}
