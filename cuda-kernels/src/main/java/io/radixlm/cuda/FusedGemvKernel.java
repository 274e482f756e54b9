package io.radixlm.cuda;

/**
 * The 1-row GEMVs of a decode step of one token with the small ops around them fused in (gemv.cu):
 * <ul>
 *   <li>gemv_norm_rows1: y (out) f32 = rmsnorm(residual) · normWeight · wᵀ (input norm + q/k/v);</li>
 *   <li>gemv_norm_swiglu_rows1: act (intermediate) bf16 = silu(gate) · up, (gate, up) = rmsnorm(residual) ·
 *       normWeight · wᵀ with w (2 · intermediate, in) the gate rows then the up rows (post norm + gate/up + SwiGLU);</li>
 *   <li>gemv_add_rows1: y (out) f32 += x (in) bf16 · wᵀ (o and down projections into the residual stream).</li>
 * </ul>
 * At batch 1 each of the norm, SwiGLU and residual-add kernels costs a launch and ~4–6 µs of latency for a
 * few KB of work; fused, a layer runs 4 kernels instead of 7. The norms keep fused_add_rms_norm_vec4's
 * formula and bf16 rounding, SwiGLU silu_mul's, and every dot product gemv_rows1's summation order.
 */
public final class FusedGemvKernel {
    private static final int BLOCK = 128;      // GEMV_BLOCK in gemv.cu
    private static final int OUT_PER_BLOCK = 2; // FUSED_OPW in gemv.cu
    /**
     * The normed row lives in shared memory as bf16 (2 · in bytes): 32 KB at most, inside the 48 KB (static
     * included) a launch gets without opting in. Hidden sizes of real models go up to 16384.
     */
    public static final int MAX_NORM_IN = 16 * 1024;

    private final CudaDevice device;

    public FusedGemvKernel(CudaDevice device) { this.device = device; }

    /**
     * True when the fused kernels take a model of these sizes: rows of whole 16-byte chunks and a normed row
     * that fits shared memory (buffers must also be 16-byte aligned, as every allocation is; launches check).
     */
    public static boolean supports(int hidden, int qDim, int intermediate) {
        return hidden > 0 && hidden % 8 == 0 && hidden <= MAX_NORM_IN && qDim > 0 && qDim % 8 == 0
                && intermediate > 0 && intermediate % 8 == 0;
    }

    /** y (out) f32 = (residual (in) f32 / rms(residual) · normWeight (in) bf16) · w (out, in) bf16 ᵀ. */
    public void launchNorm(DeviceMemory residual, DeviceMemory normWeight, DeviceMemory w, DeviceMemory y,
                           int in, int out, float eps) {
        requireNormShapes(residual, normWeight, w, in, out);
        y.requireElements(out, 4, "fused gemv y");
        device.launch("gemv_norm_rows1", Dim3.of((out + OUT_PER_BLOCK - 1) / OUT_PER_BLOCK), Dim3.of(BLOCK), 2 * in,
                new KernelArgs().ptr(residual).ptr(normWeight).ptr(w).ptr(y).i32(in).i32(out).f32(eps));
    }

    /**
     * act (intermediate) bf16 = silu(gate) · up, where (gate, up) (2 · intermediate) = (residual / rms(residual)
     * · normWeight) · w (2 · intermediate, in) ᵀ: w holds the gate rows, then the up rows.
     */
    public void launchNormSwiglu(DeviceMemory residual, DeviceMemory normWeight, DeviceMemory w, DeviceMemory act,
                                 int in, int intermediate, float eps) {
        requireNormShapes(residual, normWeight, w, in, 2 * intermediate);
        act.requireElements(intermediate, 2, "fused gemv act");
        device.launch("gemv_norm_swiglu_rows1", Dim3.of(intermediate), Dim3.of(BLOCK), 2 * in,
                new KernelArgs().ptr(residual).ptr(normWeight).ptr(w).ptr(act).i32(in).i32(intermediate).f32(eps));
    }

    /** y (out) f32 += x (in) bf16 · w (out, in) bf16 ᵀ. */
    public void launchAdd(DeviceMemory x, DeviceMemory w, DeviceMemory y, int in, int out) {
        if (in <= 0 || in % 8 != 0 || out <= 0) {
            throw new IllegalArgumentException("fused gemv takes in a positive multiple of 8, got in " + in + ", out " + out);
        }
        requireAligned(x, w, y);
        x.requireElements(in, 2, "fused gemv x");
        w.requireElements((long) out * in, 2, "fused gemv w");
        y.requireElements(out, 4, "fused gemv y");
        device.launch("gemv_add_rows1", Dim3.of((out + OUT_PER_BLOCK - 1) / OUT_PER_BLOCK), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(x).ptr(w).ptr(y).i32(in).i32(out));
    }

    private static void requireNormShapes(DeviceMemory residual, DeviceMemory normWeight, DeviceMemory w, int in, int out) {
        if (in <= 0 || in % 8 != 0 || in > MAX_NORM_IN || out <= 0) {
            throw new IllegalArgumentException("fused norm gemv takes in a positive multiple of 8 up to " + MAX_NORM_IN
                    + ", got in " + in + ", out " + out);
        }
        requireAligned(residual, normWeight, w);
        residual.requireElements(in, 4, "fused gemv residual");
        normWeight.requireElements(in, 2, "fused gemv norm weight");
        w.requireElements((long) out * in, 2, "fused gemv w");
    }

    private static void requireAligned(DeviceMemory... buffers) {
        for (DeviceMemory m : buffers) {
            if (m.address() % 16 != 0) throw new IllegalArgumentException("fused gemv needs 16-byte aligned buffers");
        }
    }
}
