package io.radixlm.cuda;

/** embedding_gather: out (numTokens, hidden) f32 = table (vocab, hidden) bf16 [tokenIds]. */
public final class EmbeddingKernel {
    private final CudaDevice device;

    public EmbeddingKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory table, DeviceMemory tokenIds, DeviceMemory out, int numTokens, int vocab, int hidden) {
        table.requireElements((long) vocab * hidden, 2, "embedding table");
        tokenIds.requireElements(numTokens, 4, "tokenIds");
        out.requireElements((long) numTokens * hidden, 4, "embedding out");
        device.launch("embedding_gather", Dim3.of(numTokens), Dim3.of(256), 0,
                new KernelArgs().ptr(table).ptr(tokenIds).ptr(out).i32(hidden));
    }
}
