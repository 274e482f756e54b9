package io.radixlm.cuda;

/**
 * Per-split softmax state between paged_attention and attention_reduce, sized for at most maxTokens
 * query tokens and contexts of at most maxSplits · splitSize keys.
 *
 * @param partMax (maxTokens, numHeads, maxSplits) f32
 * @param partSum (maxTokens, numHeads, maxSplits) f32
 * @param partAcc (maxTokens, numHeads, maxSplits, headDim) f32
 */
public record AttentionWorkspace(DeviceMemory partMax, DeviceMemory partSum, DeviceMemory partAcc,
                                 int maxTokens, int numHeads, int headDim, int splitSize, int maxSplits)
        implements AutoCloseable {

    public static AttentionWorkspace allocate(CudaDevice device, int maxTokens, int numHeads, int headDim,
                                              int splitSize, int maxContext) {
        int maxSplits = (maxContext + splitSize - 1) / splitSize;
        long states = (long) maxTokens * numHeads * maxSplits;
        return new AttentionWorkspace(device.allocate(states * 4), device.allocate(states * 4),
                device.allocate(states * headDim * 4), maxTokens, numHeads, headDim, splitSize, maxSplits);
    }

    @Override
    public void close() {
        partMax.close();
        partSum.close();
        partAcc.close();
    }
}
