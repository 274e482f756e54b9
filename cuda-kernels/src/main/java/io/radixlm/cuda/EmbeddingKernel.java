package io.radixlm.cuda;

/**
 * embedding_gather: out (numTokens, hidden) f32 = table (vocab, hidden) bf16 [tokenIds]; a token id -1 - r stands
 * for fedIds[r] (the ids the step before sampled), and a row whose id is outside the table comes out NaN.
 */
public final class EmbeddingKernel {
    private final CudaDevice device;
    private final ElementwiseVariant variant;

    public EmbeddingKernel(CudaDevice device) { this(device, ElementwiseVariant.fromSystemProperty()); }

    public EmbeddingKernel(CudaDevice device, ElementwiseVariant variant) {
        this.device = device;
        this.variant = variant;
    }

    public void launch(DeviceMemory table, DeviceMemory tokenIds, DeviceMemory out, int numTokens, int vocab, int hidden) {
        launch(table, tokenIds, null, out, numTokens, vocab, hidden);
    }

    /** As above; fedIds (may be null: no token is fed) holds the ids a token id -1 - r stands for. */
    public void launch(DeviceMemory table, DeviceMemory tokenIds, DeviceMemory fedIds, DeviceMemory out, int numTokens,
                       int vocab, int hidden) {
        table.requireElements((long) vocab * hidden, 2, "embedding table");
        tokenIds.requireElements(numTokens, 4, "tokenIds");
        out.requireElements((long) numTokens * hidden, 4, "embedding out");
        // 8 columns a thread: whole rows of 16 bytes (cuMemAlloc aligns buffers to 256)
        boolean vec8 = variant == ElementwiseVariant.V2 && hidden % 8 == 0
                && table.address() % 16 == 0 && out.address() % 16 == 0;
        device.launch(vec8 ? "embedding_gather_vec8" : "embedding_gather", Dim3.of(numTokens), Dim3.of(vec8 ? 128 : 256), 0,
                new KernelArgs().ptr(table).ptr(tokenIds).ptr(fedIds == null ? 0 : fedIds.address()).ptr(out).i32(hidden).i32(vocab));
    }
}
