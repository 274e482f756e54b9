package io.radixlm.cuda;

/** argmax_rows: out (numRows) int = index of each row's maximum in logits (numRows, vocab) f32, lowest on ties. */
public final class ArgmaxKernel {
    private final CudaDevice device;

    public ArgmaxKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory logits, DeviceMemory out, int numRows, int vocab) {
        logits.requireElements((long) numRows * vocab, 4, "argmax logits");
        out.requireElements(numRows, 4, "argmax out");
        device.launch("argmax_rows", Dim3.of(numRows), Dim3.of(256), 0,
                new KernelArgs().ptr(logits).ptr(out).i32(vocab));
    }
}
