package io.radixlm.cuda;

/**
 * Every linear layer of the forward pass, y (rows, outFeatures) f32 = x (rows, inFeatures) bf16 ·
 * w (outFeatures, inFeatures) bf16 ᵀ: the GEMV kernel for the single row of a decode step at batch 1
 * (bandwidth-bound: the weights are read once), cuBLAS for everything else (prefill, larger batches) and for
 * shapes the GEMV kernel does not take. Both run on the device's stream without allocating, so either can be captured
 * into a CUDA graph.
 */
public final class Linear {
    /**
     * The GEMV path's switch: -Dradixlm.gemv=false sends every linear to cuBLAS, as before the kernel
     * existed, so that both can be compared on the same GPU in one run.
     */
    public static final boolean USE_GEMV = !"false".equals(System.getProperty("radixlm.gemv"));
    /**
     * Rows up to which the GEMV kernel is used. Measured on the H200 (bench item 7, 2026-11-29): at 1 row it
     * beats cuBLAS on every decode shape (1.03–4.6×); at 8 rows cuBLAS wins on most (the kernel reaches 0.45–0.65
     * of bandwidth there against cuBLAS's 0.85–0.99), so larger batches stay on cuBLAS.
     */
    public static final int MAX_GEMV_ROWS = 1;

    private final Cublas cublas;
    private final GemvKernel gemv;
    private final boolean gemvEnabled;

    /** Uses the GEMV kernel where it applies unless -Dradixlm.gemv=false. */
    public Linear(CudaDevice device, Cublas cublas) { this(device, cublas, USE_GEMV); }

    /** @param gemvEnabled false: every product goes to cuBLAS */
    public Linear(CudaDevice device, Cublas cublas, boolean gemvEnabled) {
        this.cublas = cublas;
        this.gemv = new GemvKernel(device);
        this.gemvEnabled = gemvEnabled;
    }

    /** True when a product of this many rows (and these buffers) runs on the GEMV kernel rather than cuBLAS. */
    public boolean usesGemv(DeviceMemory x, DeviceMemory w, int rows, int inFeatures) {
        return gemvEnabled && rows <= MAX_GEMV_ROWS && GemvKernel.supports(rows, inFeatures, x.address(), w.address());
    }

    public void apply(DeviceMemory x, DeviceMemory w, DeviceMemory y, int rows, int inFeatures, int outFeatures) {
        if (usesGemv(x, w, rows, inFeatures)) {
            gemv.launch(x, w, y, rows, inFeatures, outFeatures);
        } else {
            cublas.linear(x, w, y, rows, inFeatures, outFeatures);
        }
    }
}
