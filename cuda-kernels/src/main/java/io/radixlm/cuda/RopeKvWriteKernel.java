package io.radixlm.cuda;

/**
 * rope_qk_norm_kv_write: from the fused projection qkv (numTokens, qDim + 2·kvDim) f32 (+ bias), applies
 * q/k RMSNorm when the norm weights are given (qwen3), RoPE with the given inverse frequencies
 * (headDim/2, f64; default or llama3), writes qOut (numTokens, numHeads, headDim) f32 and k, v into
 * kCache/vCache (numSlots, numKvHeads, headDim) bf16 at slotMapping.
 */
public final class RopeKvWriteKernel {
    private final CudaDevice device;
    private final ElementwiseVariant variant;

    public RopeKvWriteKernel(CudaDevice device) { this(device, ElementwiseVariant.fromSystemProperty()); }

    public RopeKvWriteKernel(CudaDevice device, ElementwiseVariant variant) {
        this.device = device;
        this.variant = variant;
    }

    /** The shape of one attention layer. */
    public record Shape(int numHeads, int numKvHeads, int headDim, int numSlots) {
        public Shape {
            if (headDim % 2 != 0 || headDim > 256) throw new IllegalArgumentException("headDim must be even, at most 256: " + headDim);
            if (numHeads % numKvHeads != 0) throw new IllegalArgumentException("numKvHeads must divide numHeads");
        }

        int qkvWidth() { return (numHeads + 2 * numKvHeads) * headDim; }
    }

    public void launch(DeviceMemory qkv, DeviceMemory bias, DeviceMemory positions, DeviceMemory slotMapping,
                       DeviceMemory invFreq, DeviceMemory qNormWeight, DeviceMemory kNormWeight,
                       DeviceMemory qOut, DeviceMemory kCache, DeviceMemory vCache,
                       int numTokens, Shape shape, float eps) {
        launch(qkv, bias, positions, slotMapping, invFreq, qNormWeight, kNormWeight, qOut, kCache, vCache, numTokens,
                shape, eps, null);
    }

    /**
     * As above; angles: null, or for a one-token launch that token's (headDim / 2) float2 (cos, sin) as
     * {@link FusedGemvKernel#ropeAngles} computed them, read instead of computing them again (the same bits).
     */
    public void launch(DeviceMemory qkv, DeviceMemory bias, DeviceMemory positions, DeviceMemory slotMapping,
                       DeviceMemory invFreq, DeviceMemory qNormWeight, DeviceMemory kNormWeight,
                       DeviceMemory qOut, DeviceMemory kCache, DeviceMemory vCache,
                       int numTokens, Shape shape, float eps, DeviceMemory angles) {
        if (angles != null) {
            if (numTokens != 1) throw new IllegalArgumentException("precomputed angles are one token's, got " + numTokens + " tokens");
            angles.requireElements(shape.headDim(), 4, "rope angles");
        }
        requireProjection(qkv, bias, qNormWeight, kNormWeight, numTokens, shape.qkvWidth(), shape.headDim());
        positions.requireElements(numTokens, 4, "positions");
        slotMapping.requireElements(numTokens, 4, "slotMapping");
        invFreq.requireElements(shape.headDim() / 2, 8, "invFreq");
        qOut.requireElements((long) numTokens * shape.numHeads() * shape.headDim(), 4, "rope qOut");
        long cacheElements = (long) shape.numSlots() * shape.numKvHeads() * shape.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        KernelArgs args = new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(positions).ptr(slotMapping).ptr(invFreq)
                .ptr(addressOrNull(qNormWeight)).ptr(addressOrNull(kNormWeight))
                .ptr(qOut).ptr(kCache).ptr(vCache)
                .i32(shape.numHeads()).i32(shape.numKvHeads()).i32(shape.headDim());
        if (variant == ElementwiseVariant.V2) {
            Plan plan = Plan.of(numTokens, shape, device.numMultiprocessors());
            device.launch(plan.kernel(), Dim3.of(numTokens, plan.gridY()), Dim3.of(32 * plan.numWarps()), 0,
                    args.i32(plan.headsPerCta()).f32(eps).ptr(addressOrNull(angles)));
            return;
        }
        device.launch("rope_qk_norm_kv_write", Dim3.of(numTokens, shape.numHeads() + shape.numKvHeads()),
                Dim3.of((shape.headDim() + 31) / 32 * 32), 0, args.f32(eps));
    }

    /**
     * Launch geometry of rope_qk_norm_kv_write_v2_e{elementsPerLane}: a block takes one token and
     * headsPerCta of its heads, numWarps warps each working a head at a time. Enough blocks per token to
     * give about two per multiprocessor (a decode step: a block per head), else one block per token with
     * all of its heads, so that the token's angles are computed once.
     */
    record Plan(int elementsPerLane, int headsPerCta, int gridY, int numWarps) {
        static final int MAX_WARPS = 8;  // ROPE_V2_MAX_WARPS in rope.cu

        Plan {
            if (elementsPerLane < 1 || elementsPerLane > 8) throw new IllegalArgumentException("elementsPerLane " + elementsPerLane);
            if (numWarps < 1 || numWarps > MAX_WARPS) throw new IllegalArgumentException("numWarps " + numWarps);
            if (headsPerCta < 1 || gridY < 1) throw new IllegalArgumentException("empty plan");
        }

        static Plan of(int numTokens, Shape shape, int numMultiprocessors) {
            int totalHeads = shape.numHeads() + shape.numKvHeads();
            int targetBlocks = 2 * numMultiprocessors;
            int blocksPerToken = Math.clamp((targetBlocks + numTokens - 1L) / numTokens, 1, totalHeads);
            int headsPerCta = (totalHeads + blocksPerToken - 1) / blocksPerToken;
            int gridY = (totalHeads + headsPerCta - 1) / headsPerCta;
            int half = shape.headDim() / 2;
            // at least enough warps that the angles take one round of sincos (half <= 128 needs <= 4)
            int numWarps = Math.min(MAX_WARPS, Math.max(headsPerCta, (half + 31) / 32));
            return new Plan((shape.headDim() + 31) / 32, headsPerCta, gridY, numWarps);
        }

        String kernel() { return "rope_qk_norm_kv_write_v2_e" + elementsPerLane; }
    }

    /**
     * What a RoPE step reads of the qkv projection: numTokens rows of qkvWidth floats, the bias (or null) and the q and
     * k norm weights (both or neither) of headDim bf16. Also checked by the clustered attention that does the same work.
     */
    static void requireProjection(DeviceMemory qkv, DeviceMemory bias, DeviceMemory qNormWeight, DeviceMemory kNormWeight,
                                  int numTokens, int qkvWidth, int headDim) {
        qkv.requireElements((long) numTokens * qkvWidth, 4, "rope qkv");
        if (bias != null) bias.requireElements(qkvWidth, 4, "rope bias");
        if ((qNormWeight == null) != (kNormWeight == null)) throw new IllegalArgumentException("q and k norm come together");
        if (qNormWeight != null) {
            qNormWeight.requireElements(headDim, 2, "q norm");
            kNormWeight.requireElements(headDim, 2, "k norm");
        }
    }

    static long addressOrNull(DeviceMemory memory) { return memory == null ? 0 : memory.address(); }
}
