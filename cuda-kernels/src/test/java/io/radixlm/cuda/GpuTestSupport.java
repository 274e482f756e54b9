package io.radixlm.cuda;

import org.junit.jupiter.api.Assumptions;

import java.util.Random;

/** Opens the GPU once per test JVM; a machine without one skips the gpu tests and says why. */
final class GpuTestSupport {
    /** bf16 keeps 8 bits of mantissa: one rounding is a relative error of at most 2^-9 per element. */
    static final double BF16_TOLERANCE = 8e-3;
    static final double F32_TOLERANCE = 1e-5;

    private static CudaDevice device;
    private static String unavailable;

    private GpuTestSupport() { }

    static synchronized CudaDevice device() {
        if (device == null && unavailable == null) {
            try {
                device = CudaDevice.open();
                System.err.println("[gpu-test] running on " + device.name() + " (sm_" + device.computeCapability() + ")");
            } catch (CudaUnavailableException | LinkageError e) {
                unavailable = e.getMessage();
                System.err.println("[gpu-test] SKIPPING gpu tests: no usable GPU here: " + unavailable);
            }
        }
        Assumptions.assumeTrue(device != null, () -> "SKIPPED (not passed): no usable GPU here: " + unavailable);
        return device;
    }

    /** ‖actual − expected‖ / ‖expected‖ in double; any NaN (a poisoned, unwritten element) gives infinity. */
    static double relativeError(float[] actual, double[] expected) {
        if (actual.length != expected.length) throw new AssertionError("length " + actual.length + " != " + expected.length);
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < actual.length; i++) {
            if (Float.isNaN(actual[i])) return Double.POSITIVE_INFINITY;
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += expected[i] * expected[i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-30));
    }

    static double[] toDoubles(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) out[i] = values[i];
        return out;
    }

    /** Uniform in [-scale, scale), already rounded to bf16 so that GPU and reference see the same numbers. */
    static float[] randomBf16Values(Random random, int count, float scale) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) out[i] = Bf16.round((random.nextFloat() * 2 - 1) * scale);
        return out;
    }

    static float[] randomFloats(Random random, int count, float scale) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) out[i] = (random.nextFloat() * 2 - 1) * scale;
        return out;
    }

    static DeviceMemory upload(CudaDevice device, float[] values) {
        DeviceMemory memory = device.allocate(Math.max(4L, 4L * values.length));
        memory.copyFrom(values);
        return memory;
    }

    static DeviceMemory uploadBf16(CudaDevice device, float[] values) {
        DeviceMemory memory = device.allocate(Math.max(2L, 2L * values.length));
        memory.copyFrom(Bf16.fromFloats(values));
        return memory;
    }

    static DeviceMemory upload(CudaDevice device, int[] values) {
        DeviceMemory memory = device.allocate(Math.max(4L, 4L * values.length));
        memory.copyFrom(values);
        return memory;
    }

    /** A fresh output buffer full of 0xFF bytes: NaN as float and as bf16, so unwritten elements show. */
    static DeviceMemory poisoned(CudaDevice device, long bytes) {
        DeviceMemory memory = device.allocate(bytes);
        memory.fill((byte) 0xFF);
        return memory;
    }

    static float[] downloadBf16(DeviceMemory memory, int count) {
        return Bf16.toFloats(memory.toShorts(count));
    }
}
