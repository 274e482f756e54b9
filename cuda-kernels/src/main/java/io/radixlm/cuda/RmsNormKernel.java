package io.radixlm.cuda;

/**
 * fused_add_rms_norm: residual (numTokens, hidden) f32 += delta when delta is given (else null),
 * out (numTokens, hidden) bf16 = rmsnorm(residual) · weight (hidden) bf16. A hidden size that is a multiple
 * of 4 (every real model's) goes to fused_add_rms_norm_vec4: float4 loads by a block as wide as the row.
 */
public final class RmsNormKernel {
    private static final int VEC_PER_THREAD = 4; // RMS_VEC_PER_THREAD in rms_norm.cu
    private final CudaDevice device;

    public RmsNormKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory residual, DeviceMemory delta, DeviceMemory weight, DeviceMemory out,
                       int numTokens, int hidden, float eps) {
        residual.requireElements((long) numTokens * hidden, 4, "rmsnorm residual");
        if (delta != null) delta.requireElements((long) numTokens * hidden, 4, "rmsnorm delta");
        weight.requireElements(hidden, 2, "rmsnorm weight");
        out.requireElements((long) numTokens * hidden, 2, "rmsnorm out");
        int numVec = hidden / 4;
        int wide = Math.min(1024, (numVec + 31) / 32 * 32);
        boolean vectorized = hidden % 4 == 0 && numVec <= VEC_PER_THREAD * wide;
        device.launch(vectorized ? "fused_add_rms_norm_vec4" : "fused_add_rms_norm", Dim3.of(numTokens),
                Dim3.of(vectorized ? wide : 256), 0, new KernelArgs().ptr(residual).ptr(delta == null ? 0 : delta.address()).ptr(weight).ptr(out)
                        .i32(hidden).f32(eps));
    }
}
