package io.radixlm.cuda;

/** silu_mul: out (numTokens, intermediate) bf16 = silu(gate) · up, gateUp (numTokens, 2 · intermediate) f32. */
public final class SwigluKernel {
    private static final int BLOCK = 256;
    private final CudaDevice device;

    public SwigluKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory gateUp, DeviceMemory out, int numTokens, int intermediate) {
        gateUp.requireElements(2L * numTokens * intermediate, 4, "swiglu gateUp");
        out.requireElements((long) numTokens * intermediate, 2, "swiglu out");
        long total = (long) numTokens * intermediate;
        device.launch("silu_mul", Dim3.of((int) ((total + BLOCK - 1) / BLOCK)), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(gateUp).ptr(out).i32(numTokens).i32(intermediate));
    }
}
