package io.radixlm.cuda;

/**
 * gemv_rows{1,2,4,8}: y (rows, outFeatures) f32 = x (rows, inFeatures) bf16 · w (outFeatures, inFeatures)
 * bf16 ᵀ, accumulated in float32, for 1 ≤ rows ≤ {@link #MAX_ROWS}: the linear layers of a decode step,
 * where the weights are streamed once and cuBLAS's GEMM tiles leave much of the bandwidth unused. Needs
 * inFeatures a multiple of 8 and 16-byte aligned x and w ({@link #supports}). {@link Linear} uses it only up to
 * {@link Linear#MAX_GEMV_ROWS} rows, where it was measured ahead of cuBLAS, and sends every other case to cuBLAS.
 */
public final class GemvKernel {
    public static final int MAX_ROWS = 8;
    private static final int BLOCK = 128;
    private final CudaDevice device;

    public GemvKernel(CudaDevice device) { this.device = device; }

    /**
     * One instantiation of gemv.cu: the kernel for up to maxRows rows and the output rows each CTA owns.
     */
    private record Variant(String kernel, int maxRows, int outPerBlock) { }

    private static final Variant[] VARIANTS = {
        new Variant("gemv_rows1", 1, 2), new Variant("gemv_rows2", 2, 2),
        new Variant("gemv_rows4", 4, 4), new Variant("gemv_rows8", 8, 4),
    };

    /** True when the kernel can compute this product: few rows, 16-byte rows, 16-byte aligned x and w. */
    public static boolean supports(int rows, int inFeatures, long x, long w) {
        return rows >= 1 && rows <= MAX_ROWS && inFeatures > 0 && inFeatures % 8 == 0 && x % 16 == 0 && w % 16 == 0;
    }

    public void launch(DeviceMemory x, DeviceMemory w, DeviceMemory y, int rows, int inFeatures, int outFeatures) {
        x.requireElements((long) rows * inFeatures, 2, "gemv x");
        w.requireElements((long) outFeatures * inFeatures, 2, "gemv w");
        y.requireElements((long) rows * outFeatures, 4, "gemv y");
        launch(x.address(), w.address(), y.address(), rows, inFeatures, outFeatures);
    }

    /** As {@link #launch(DeviceMemory, DeviceMemory, DeviceMemory, int, int, int)} on raw addresses (sub-buffers). */
    public void launch(long x, long w, long y, int rows, int inFeatures, int outFeatures) {
        if (!supports(rows, inFeatures, x, w) || outFeatures <= 0) {
            throw new IllegalArgumentException("gemv takes 1.." + MAX_ROWS + " rows, inFeatures a positive multiple of 8"
                    + " and 16-byte aligned x and w; got rows " + rows + ", in " + inFeatures + ", out " + outFeatures
                    + ", x % 16 = " + x % 16 + ", w % 16 = " + w % 16);
        }
        Variant variant = variantFor(rows);
        int numBlocks = (outFeatures + variant.outPerBlock() - 1) / variant.outPerBlock();
        device.launch(variant.kernel(), Dim3.of(numBlocks), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(x).ptr(w).ptr(y).i32(rows).i32(inFeatures).i32(outFeatures));
    }

    /** The smallest instantiation that holds rows: padding rows cost arithmetic, not memory traffic. */
    private static Variant variantFor(int rows) {
        for (Variant v : VARIANTS) if (rows <= v.maxRows()) return v;
        throw new IllegalArgumentException("gemv takes at most " + MAX_ROWS + " rows, got " + rows);
    }
}
