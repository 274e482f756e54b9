package io.radixlm.cuda;

/** add_bias_rows: y (rows, cols) f32 += bias (cols) f32. */
public final class BiasAddKernel {
    private static final int BLOCK = 256;
    private final CudaDevice device;

    public BiasAddKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory y, DeviceMemory bias, int rows, int cols) {
        y.requireElements((long) rows * cols, 4, "bias y");
        bias.requireElements(cols, 4, "bias");
        long total = (long) rows * cols;
        device.launch("add_bias_rows", Dim3.of((int) ((total + BLOCK - 1) / BLOCK)), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(y).ptr(bias).i32(rows).i32(cols));
    }
}
