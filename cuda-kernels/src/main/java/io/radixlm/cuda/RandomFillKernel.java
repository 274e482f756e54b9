package io.radixlm.cuda;

/**
 * fill_uniform_bf16 / fill_uniform_f32: center + uniform(-scale, scale) values generated on the GPU
 * from (seed, index), so benchmarks get weights and KV of real shapes without host memory or transfers.
 * The same seed fills a buffer with the same values.
 */
public final class RandomFillKernel {
    private static final int THREADS = 256;
    private static final int MAX_BLOCKS = 132 * 16; // enough to fill an H200; a grid-stride loop covers the rest

    private final CudaDevice device;

    public RandomFillKernel(CudaDevice device) { this.device = device; }

    /** Fills the first count bf16 elements of out. */
    public void bf16(DeviceMemory out, long count, long seed, float center, float scale) {
        out.requireElements(count, 2, "random fill");
        launch("fill_uniform_bf16", out, count, seed, center, scale);
    }

    /** Fills the first count f32 elements of out. */
    public void f32(DeviceMemory out, long count, long seed, float center, float scale) {
        out.requireElements(count, 4, "random fill");
        launch("fill_uniform_f32", out, count, seed, center, scale);
    }

    private void launch(String kernel, DeviceMemory out, long count, long seed, float center, float scale) {
        if (count <= 0) return;
        int blocks = (int) Math.min(MAX_BLOCKS, (count + THREADS - 1) / THREADS);
        device.launch(kernel, Dim3.of(blocks), Dim3.of(THREADS), 0,
                new KernelArgs().ptr(out).i64(count).i64(seed).f32(center).f32(scale));
    }
}
