package io.radixlm.cuda;

/** gather_rows_bf16: out (numRows, width) bf16 = in (?, width) bf16 [rows]; picks the rows that need logits. */
public final class GatherRowsKernel {
    private final CudaDevice device;

    public GatherRowsKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory in, DeviceMemory rows, DeviceMemory out, int numInRows, int numRows, int width) {
        in.requireElements((long) numInRows * width, 2, "gather in");
        rows.requireElements(numRows, 4, "gather rows");
        out.requireElements((long) numRows * width, 2, "gather out");
        device.launch("gather_rows_bf16", Dim3.of(numRows), Dim3.of(256), 0,
                new KernelArgs().ptr(in).ptr(rows).ptr(out).i32(width));
    }
}
