package io.radixlm.cuda;

/**
 * rope_qk_norm_kv_write: from the fused projection qkv (numTokens, qDim + 2·kvDim) f32 (+ bias), applies
 * q/k RMSNorm when the norm weights are given (qwen3), RoPE with the given inverse frequencies
 * (headDim/2, f64; default or llama3), writes qOut (numTokens, numHeads, headDim) f32 and k, v into
 * kCache/vCache (numSlots, numKvHeads, headDim) bf16 at slotMapping.
 */
public final class RopeKvWriteKernel {
    private final CudaDevice device;

    public RopeKvWriteKernel(CudaDevice device) { this.device = device; }

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
        qkv.requireElements((long) numTokens * shape.qkvWidth(), 4, "rope qkv");
        if (bias != null) bias.requireElements(shape.qkvWidth(), 4, "rope bias");
        positions.requireElements(numTokens, 4, "positions");
        slotMapping.requireElements(numTokens, 4, "slotMapping");
        invFreq.requireElements(shape.headDim() / 2, 8, "invFreq");
        if ((qNormWeight == null) != (kNormWeight == null)) throw new IllegalArgumentException("q and k norm come together");
        if (qNormWeight != null) {
            qNormWeight.requireElements(shape.headDim(), 2, "q norm");
            kNormWeight.requireElements(shape.headDim(), 2, "k norm");
        }
        qOut.requireElements((long) numTokens * shape.numHeads() * shape.headDim(), 4, "rope qOut");
        long cacheElements = (long) shape.numSlots() * shape.numKvHeads() * shape.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        device.launch("rope_qk_norm_kv_write", Dim3.of(numTokens, shape.numHeads() + shape.numKvHeads()),
                Dim3.of((shape.headDim() + 31) / 32 * 32), 0,
                new KernelArgs().ptr(qkv).ptr(addressOrNull(bias)).ptr(positions).ptr(slotMapping).ptr(invFreq)
                        .ptr(addressOrNull(qNormWeight)).ptr(addressOrNull(kNormWeight))
                        .ptr(qOut).ptr(kCache).ptr(vCache)
                        .i32(shape.numHeads()).i32(shape.numKvHeads()).i32(shape.headDim()).f32(eps));
    }

    static long addressOrNull(DeviceMemory memory) { return memory == null ? 0 : memory.address(); }
}
