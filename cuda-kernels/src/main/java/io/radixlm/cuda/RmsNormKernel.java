package io.radixlm.cuda;

/**
 * fused_add_rms_norm: residual (numTokens, hidden) f32 += delta when delta is given (else null),
 * out (numTokens, hidden) bf16 = rmsnorm(residual) · weight (hidden) bf16.
 */
public final class RmsNormKernel {
    private final CudaDevice device;

    public RmsNormKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory residual, DeviceMemory delta, DeviceMemory weight, DeviceMemory out,
                       int numTokens, int hidden, float eps) {
        residual.requireElements((long) numTokens * hidden, 4, "rmsnorm residual");
        if (delta != null) delta.requireElements((long) numTokens * hidden, 4, "rmsnorm delta");
        weight.requireElements(hidden, 2, "rmsnorm weight");
        out.requireElements((long) numTokens * hidden, 2, "rmsnorm out");
        device.launch("fused_add_rms_norm", Dim3.of(numTokens), Dim3.of(256), 0,
                new KernelArgs().ptr(residual).ptr(delta == null ? 0 : delta.address()).ptr(weight).ptr(out)
                        .i32(hidden).f32(eps));
    }
}
