package io.radixlm.cuda.bench;

import io.radixlm.cuda.Cublas;
import io.radixlm.cuda.CudaDevice;
import io.radixlm.cuda.DeviceMemory;
import io.radixlm.cuda.RandomFillKernel;

/**
 * The two ceilings every figure is compared with, measured in the same run on the same GPU:
 * device-to-device copy bandwidth (bytes read + written ÷ time) and the bf16 GEMM rate of cuBLAS.
 *
 * @param copyBytesPerSecond bytes read plus bytes written per second by cuMemcpyDtoD of 1 GiB
 * @param gemmFlopsPerSecond FLOP/s of an 8192³ bf16 product with float32 accumulation
 */
public record Ceilings(double copyBytesPerSecond, double gemmFlopsPerSecond) {
    static final long COPY_BYTES = 1L << 30;
    static final int GEMM_SIZE = 8192;
    private static final int REPS = 20;

    public static Ceilings measure(CudaDevice device) {
        return new Ceilings(copyBandwidth(device), gemmRate(device));
    }

    /** Median over 20 copies of 1 GiB (well past the 60 MB L2), each timed with CUDA events. */
    static double copyBandwidth(CudaDevice device) {
        try (DeviceMemory src = device.allocate(COPY_BYTES); DeviceMemory dst = device.allocate(COPY_BYTES)) {
            new RandomFillKernel(device).bf16(src, COPY_BYTES / 2, 11, 0f, 1f);
            double millis = Timing.medianEventMillis(device, 3, REPS, () -> device.copy(dst, src, COPY_BYTES));
            return 2.0 * COPY_BYTES / (millis / 1e3);
        }
    }

    /** Median over 20 products y (n, n) f32 = x (n, n) bf16 · wᵀ, 2n³ FLOPs each, on random inputs (never zeros). */
    static double gemmRate(CudaDevice device) {
        long n = GEMM_SIZE;
        try (Cublas cublas = new Cublas(device);
             DeviceMemory x = device.allocate(2 * n * n);
             DeviceMemory w = device.allocate(2 * n * n);
             DeviceMemory y = device.allocate(4 * n * n)) {
            RandomFillKernel fill = new RandomFillKernel(device);
            fill.bf16(x, n * n, 21, 0f, 1f);
            fill.bf16(w, n * n, 22, 0f, 0.02f);
            int size = GEMM_SIZE;
            double millis = Timing.medianEventMillis(device, 3, REPS, () -> cublas.linear(x, w, y, size, size, size));
            return 2.0 * n * n * n / (millis / 1e3);
        }
    }
}
