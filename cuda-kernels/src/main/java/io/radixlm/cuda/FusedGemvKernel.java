package io.radixlm.cuda;

/**
 * The fused 1-row GEMVs of a decode step at batch 1 (gemv.cu, "fused"): each streams its weights as
 * gemv_rows1 does and folds in the small kernel that would run before or after it.
 * <ul>
 * <li>{@link #residual}: residual += x · wᵀ (+ bias), the residual add of o_proj and down_proj;
 * <li>{@link #norm}: y = RMSNorm(residual) · normWeight · wᵀ, the LM head (and qwen3's qkv);
 * <li>{@link #normSwiglu}: act = SwiGLU(RMSNorm(residual) · gate/up), the MLP's first half;
 * <li>{@link #normRope}: RMSNorm + qkv + bias + RoPE, q into qOut and k, v into their KV slot (by the angles
 * {@link #ropeAngles} computed once per step).
 * </ul>
 * The norm is applied as a scale at the end of each CTA (its sum of squares is gathered in the same pass
 * as the products), so its input is not rounded to bf16 as the unfused norm kernel's output is: results
 * agree with the unfused path to bf16 rounding, not bit for bit.
 */
public final class FusedGemvKernel {
    private static final int BLOCK = 128; // GEMV_BLOCK in gemv.cu
    /** Inputs one round of a CTA's loads covers at BLOCK threads (UNROLL 4 16-byte chunks of 8 each). */
    static final int ROUND_INPUTS = BLOCK * 4 * 8;
    /**
     * {@link #residual} of rows longer than one round of loads (the down projection: 8,192 or 14,336 inputs) runs CTAs
     * of 256 threads (gemv_residual_rows1_b256). A CTA's rounds of loads run one after the other, so a CTA of 128
     * threads lived 2 (1B) or 4 (8B) round trips, and the kernel's tail, its last CTAs running on a draining GPU,
     * lasted as long; at 256 threads each CTA takes half the rounds. Measured on the H200 (bench item 1, two A/B pairs
     * in one call): 8B 4.010 / 4.010 ms a step against 4.064 / 4.064, 1B 0.879 / 0.879 against 0.898 / 0.899.
     * (Two rounds in flight at 128 threads instead lost: 4.090 against 4.065, 0.909 against 0.898.)
     * -Dradixlm.gemvWideDown=false: 128 threads, as the other fused GEMVs.
     */
    static final boolean WIDE_DOWN = !"false".equals(System.getProperty("radixlm.gemvWideDown"));
    /**
     * The most rows a CTA takes (-Dradixlm.gemvRowsPerCta=2, 4 or 8; default 8; 2: every launch as before the wider
     * kernels). A CTA reads its whole input (with the norm: the f32 residual and the bf16 norm weights, 6 bytes an
     * input) however many rows it takes: at 2 rows of 2,048 inputs, 12 KB of input for 8 KB of weights.
     */
    static final int MAX_ROWS_PER_CTA = validRows(Integer.getInteger("radixlm.gemvRowsPerCta", 8));
    /** Fewer CTAs than this leave multiprocessors short of work: such launches take fewer rows a CTA. */
    static final int MIN_CTAS = 256;

    private final CudaDevice device;

    public FusedGemvKernel(CudaDevice device) { this.device = device; }

    /**
     * {@link #residual} at 128 threads a CTA (the o projection; the down projection too where its rows are short) of
     * rows that take a thread two rounds of loads or more runs gemv_residual_rows1*_a2: two rounds in flight, both
     * before the wait for the kernel ahead, instead of a round loaded only when the one before is used. Per-CTA
     * %globaltimer stamps on the H200 (Llama-3.2-1B decode, its last layer) put the o projection's second round at
     * 2-3.7 µs after its wait, for ~1 µs of arithmetic. Measured (bench item 1, ms a step, one call): 8B 3.842 against
     * 3.878 / 3.877, 1B 0.796 against 0.797 / 0.796. The other fused GEMVs lost with two rounds ahead (8B 3.940 with
     * qkv's, 3.960 with all): their second buffer (~40 registers a thread) crowds out the CTAs of the kernels around
     * them, which lose their own loads before the wait. -Dradixlm.gemvAhead=false: the one-round kernels.
     */
    static final boolean AHEAD = !"false".equals(System.getProperty("radixlm.gemvAhead"));

    /** Launches kernel (a base name) at rows weight rows a CTA over numBlocks CTAs. */
    private void launch(String kernel, int rows, int numBlocks, KernelArgs args) {
        device.launch(kernel + suffix(rows), Dim3.of(numBlocks), Dim3.of(BLOCK), 0, args);
    }

    /** The kernel name's suffix for rows a CTA: "" (2), "_o4", "_o8". */
    private static String suffix(int rows) { return rows == 2 ? "" : "_o" + rows; }

    /** The residual GEMV's kernel for rows of inFeatures at rows a CTA: 256 threads (wide), or 128 with or without _a2. */
    static String residualKernel(int inFeatures, int rows, boolean wide) {
        if (wide) return "gemv_residual_rows1_b256" + suffix(rows);
        return "gemv_residual_rows1" + suffix(rows) + (AHEAD && rounds(inFeatures, rows, BLOCK) > 1 ? "_a2" : "");
    }

    /** Rounds of loads a thread of threads takes over rows of inFeatures: a round is 8 / rows 16-byte chunks a row. */
    static int rounds(int inFeatures, int rows, int threads) {
        int chunksPerRound = threads * (8 / rows);
        return (inFeatures / 8 + chunksPerRound - 1) / chunksPerRound;
    }

    /**
     * Weight rows a CTA of the fused GEMVs takes for outputRows rows of inFeatures inputs, at threads a CTA: the most
     * (8, 4 or 2) that leave a thread at most 4 rounds of loads (a round: 8 loads of 16 bytes, 8 / rows chunks of each
     * row), 4 at most for rows shorter than 2,048 inputs; then halved while the launch would have fewer than
     * {@link #MIN_CTAS} CTAs, or while pairs (SwiGLU's gate and up rows, rotate pairs: a CTA takes whole ones) do not
     * divide evenly. So 1B's 2,048-input rows and 8B's 4,096 take 8, Qwen3-0.6B's 1,024 take 4, and the down
     * projection's 256-thread CTAs take 8 (1B, 8,192 inputs) or 4 (8B, 14,336). Measured on the H200 (bench item 1,
     * ms a step, 1B / 8B / Qwen3-0.6B, one call): 2 rows everywhere 0.867 / 4.012 / 0.832; this rule with the down
     * projection at 2 rows 0.835 / 3.942 / 0.754; 8 rows wherever they fit 0.835 / 3.942 / 0.802 (Qwen3's o and down
     * projections, 1,024 rows, then ran 128 CTAs; its 1,024-input rows lost at 8 too). Down projection at 2 / 4 / 8
     * rows (another call): 0.830 / 0.830 / 0.818 (1B), 3.894 / 3.875 / 3.912 (8B).
     */
    static int rowsPerCta(int inFeatures, long outputRows, boolean pairs, int threads) {
        int rows = inFeatures < 2048 ? 4 : 8;
        while (rows > 2 && (long) inFeatures > 4L * threads * (8 / rows) * 8) rows /= 2;
        rows = Math.min(rows, MAX_ROWS_PER_CTA);
        while (rows > 2 && ((outputRows + rows - 1) / rows < MIN_CTAS || (pairs && outputRows / 2 % (rows / 2) != 0))) rows /= 2;
        return rows;
    }

    private static int validRows(int rows) {
        if (rows != 2 && rows != 4 && rows != 8) throw new IllegalArgumentException("radixlm.gemvRowsPerCta: 2, 4 or 8, not " + rows);
        return rows;
    }

    /** As above at {@link #BLOCK} threads a CTA. */
    static int rowsPerCta(int inFeatures, long outputRows, boolean pairs) {
        return rowsPerCta(inFeatures, outputRows, pairs, BLOCK);
    }

    /** True when the kernels take inputs of this width at these addresses (16-byte chunks of x and w). */
    public static boolean supports(int inFeatures, long... addresses) {
        if (inFeatures <= 0 || inFeatures % 8 != 0) return false;
        for (long a : addresses) if (a % 16 != 0) return false;
        return true;
    }

    /** residual (outFeatures) f32 += x (inFeatures) bf16 · w (outFeatures, inFeatures) bf16ᵀ + bias (outFeatures, f32, or null). */
    public void residual(DeviceMemory x, DeviceMemory w, DeviceMemory bias, DeviceMemory residual, int inFeatures,
                         int outFeatures) {
        x.requireElements(inFeatures, 2, "fused gemv x");
        requireWeights(w, inFeatures, outFeatures);
        if (bias != null) bias.requireElements(outFeatures, 4, "fused gemv bias");
        residual.requireElements(outFeatures, 4, "fused gemv residual");
        requireSupported(inFeatures, x.address(), w.address());
        boolean wide = WIDE_DOWN && inFeatures > ROUND_INPUTS;
        int rows = rowsPerCta(inFeatures, outFeatures, false, wide ? 2 * BLOCK : BLOCK);
        device.launch(residualKernel(inFeatures, rows, wide),
                Dim3.of((outFeatures + rows - 1) / rows), Dim3.of(wide ? 2 * BLOCK : BLOCK), 0, new KernelArgs()
                .ptr(x).ptr(w).ptr(residual).ptr(RopeKvWriteKernel.addressOrNull(bias)).i32(inFeatures).i32(outFeatures));
    }

    /** y (outFeatures) f32 = RMSNorm(residual (inFeatures) f32) · normWeight · w (outFeatures, inFeatures)ᵀ. */
    public void norm(DeviceMemory residual, DeviceMemory normWeight, DeviceMemory w, DeviceMemory y, int inFeatures,
                     int outFeatures, float eps) {
        requireNormInput(residual, normWeight, inFeatures);
        requireWeights(w, inFeatures, outFeatures);
        y.requireElements(outFeatures, 4, "fused gemv y");
        requireSupported(inFeatures, residual.address(), normWeight.address(), w.address());
        int rows = rowsPerCta(inFeatures, outFeatures, false);
        launch("gemv_norm_rows1", rows, (outFeatures + rows - 1) / rows, new KernelArgs()
                .ptr(residual).ptr(normWeight).ptr(w).ptr(y).i32(inFeatures).i32(outFeatures).f32(eps));
    }

    /**
     * act (intermediate) bf16 = silu(g) · u where g, u are rows p and intermediate + p of
     * RMSNorm(residual) · normWeight · gateUp (2 · intermediate, inFeatures)ᵀ.
     */
    public void normSwiglu(DeviceMemory residual, DeviceMemory normWeight, DeviceMemory gateUp, DeviceMemory act,
                           int inFeatures, int intermediate, float eps) {
        requireNormInput(residual, normWeight, inFeatures);
        requireWeights(gateUp, inFeatures, 2L * intermediate);
        act.requireElements(intermediate, 2, "fused gemv act");
        requireSupported(inFeatures, residual.address(), normWeight.address(), gateUp.address());
        int rows = rowsPerCta(inFeatures, 2L * intermediate, true);  // rows / 2 gate rows and as many up rows
        launch("gemv_norm_swiglu_rows1", rows, intermediate / (rows / 2), new KernelArgs()
                .ptr(residual).ptr(normWeight).ptr(gateUp).ptr(act).i32(inFeatures).i32(2 * intermediate).f32(eps));
    }

    /**
     * angles (headDim / 2) float2 = (cos, sin) of positions[0] · invFreq (headDim / 2, f64), rounded to float as
     * {@link RopeKvWriteKernel} rounds them: what {@link #normRope} rotates by, once per step for every layer.
     */
    public void ropeAngles(DeviceMemory positions, DeviceMemory invFreq, DeviceMemory angles, int headDim) {
        if (headDim < 2 || headDim % 2 != 0) throw new IllegalArgumentException("headDim must be even: " + headDim);
        positions.requireElements(1, 4, "positions");
        invFreq.requireElements(headDim / 2, 8, "invFreq");
        angles.requireElements(headDim / 2, 8, "rope angles");
        device.launch("rope_angles", Dim3.of(1), Dim3.of(Math.min(128, (headDim / 2 + 31) / 32 * 32)), 0,
                new KernelArgs().ptr(positions).ptr(invFreq).ptr(angles).i32(headDim / 2));
    }

    /** Where {@link #normRope} puts its results, and what it rotates by ({@link #ropeAngles}). */
    public record RopeTarget(DeviceMemory angles, DeviceMemory slotMapping, DeviceMemory qOut, DeviceMemory kCache,
                             DeviceMemory vCache, RopeKvWriteKernel.Shape shape) {
        void validate() {
            int headDim = shape.headDim();
            angles.requireElements(headDim / 2, 8, "rope angles");
            slotMapping.requireElements(1, 4, "slotMapping");
            qOut.requireElements((long) shape.numHeads() * headDim, 4, "fused gemv qOut");
            long cacheElements = (long) shape.numSlots() * shape.numKvHeads() * headDim;
            kCache.requireElements(cacheElements, 2, "kCache");
            vCache.requireElements(cacheElements, 2, "vCache");
        }
    }

    /**
     * The token's q/k/v from RMSNorm(residual) · normWeight · qkv (qDim + 2 kvDim, inFeatures)ᵀ + bias (f32 or
     * null): q and k rotated (rotate-half pairs), q into target.qOut (f32), k and v into target's KV slot (bf16).
     * No q/k norm: models with one use {@link #norm} and {@link RopeKvWriteKernel}.
     */
    public void normRope(DeviceMemory residual, DeviceMemory normWeight, DeviceMemory qkv, DeviceMemory bias,
                         RopeTarget target, int inFeatures, float eps) {
        RopeKvWriteKernel.Shape shape = target.shape();
        int width = shape.qkvWidth();
        requireNormInput(residual, normWeight, inFeatures);
        requireWeights(qkv, inFeatures, width);
        if (bias != null) bias.requireElements(width, 4, "fused gemv bias");
        target.validate();
        requireSupported(inFeatures, residual.address(), normWeight.address(), qkv.address());
        int rows = rowsPerCta(inFeatures, width, true);  // whole rotate pairs
        launch("gemv_norm_rope_rows1", rows, width / rows, new KernelArgs()
                .ptr(residual).ptr(normWeight).ptr(qkv).ptr(RopeKvWriteKernel.addressOrNull(bias))
                .ptr(target.angles()).ptr(target.slotMapping()).ptr(target.qOut())
                .ptr(target.kCache()).ptr(target.vCache()).i32(inFeatures).i32(shape.numHeads())
                .i32(shape.numKvHeads()).i32(shape.headDim()).f32(eps));
    }

    private static void requireNormInput(DeviceMemory residual, DeviceMemory normWeight, int inFeatures) {
        residual.requireElements(inFeatures, 4, "fused gemv residual");
        normWeight.requireElements(inFeatures, 2, "fused gemv norm weight");
    }

    private static void requireWeights(DeviceMemory w, int inFeatures, long outFeatures) {
        if (outFeatures <= 0) throw new IllegalArgumentException("fused gemv needs output rows, got " + outFeatures);
        w.requireElements(outFeatures * inFeatures, 2, "fused gemv w");
    }

    private static void requireSupported(int inFeatures, long... addresses) {
        if (!supports(inFeatures, addresses)) {
            throw new IllegalArgumentException("fused gemv needs inFeatures a positive multiple of 8 and 16-byte aligned"
                    + " inputs and weights; got inFeatures " + inFeatures);
        }
    }
}
