package io.radixlm.cuda;

/**
 * Per-split softmax state between paged_attention and attention_reduce, for at most maxTokens query tokens
 * and maxSplits splits per token. The V1 kernel splits a context into chunks of splitSize keys and launches
 * v1Splits of them (so it serves contexts of at most splitSize · v1Splits keys), its states strided by
 * maxSplits; the streaming kernel splits a context into numSplits chunks of any size and packs its states
 * (numTokens, numHeads, numSplits), so it needs only numTokens · numSplits ≤ maxTokens · maxSplits.
 *
 * @param partMax (maxTokens, numHeads, maxSplits) f32
 * @param partSum (maxTokens, numHeads, maxSplits) f32
 * @param partAcc (maxTokens, numHeads, maxSplits, headDim) f32
 * @param counters (maxTokens, numHeads) int, zeroed at allocation and 0 again after every launch: the fused V3 kernel
 *                 counts the finished splits of (token, KV head) at token · numKvHeads + kvHead (numKvHeads ≤ numHeads)
 */
public record AttentionWorkspace(DeviceMemory partMax, DeviceMemory partSum, DeviceMemory partAcc, DeviceMemory counters,
                                 int maxTokens, int numHeads, int headDim, int splitSize, int v1Splits, int maxSplits)
        implements AutoCloseable {
    /** Bound on a step's workspace, whatever the batch. */
    public static final long STEP_WORKSPACE_BYTES = 512L << 20;
    /** V1 splits hold at least this many keys (few query tokens need the parallelism, many do not). */
    private static final int MIN_SPLIT_SIZE = 256;

    public AttentionWorkspace {
        if (maxTokens < 1 || splitSize < 1 || v1Splits < 1 || maxSplits < v1Splits) {
            throw new IllegalArgumentException("workspace of " + maxTokens + " tokens, " + maxSplits + " splits, "
                    + v1Splits + " V1 splits of " + splitSize);
        }
    }

    /** maxSplits: at least ceil(maxContext / splitSize), the V1 kernel's splits. */
    public static AttentionWorkspace allocate(CudaDevice device, int maxTokens, int numHeads, int headDim,
                                              int splitSize, int maxContext, int maxSplits) {
        int v1Splits = (maxContext + splitSize - 1) / splitSize;
        long states = (long) maxTokens * numHeads * maxSplits;
        DeviceMemory counters = device.allocate(4L * maxTokens * numHeads);
        counters.fill((byte) 0);  // once: each fused launch leaves them at 0 again
        return new AttentionWorkspace(device.allocate(states * 4), device.allocate(states * 4),
                device.allocate(states * headDim * 4), counters, maxTokens, numHeads, headDim, splitSize, v1Splits,
                maxSplits);
    }

    /**
     * The workspace of a forward step of up to maxTokens tokens over contexts of up to maxContext keys, within
     * {@link #STEP_WORKSPACE_BYTES}: V1's split size small when few tokens share it, and room for up to
     * {@link PagedAttentionKernel#MAX_SPLITS} streaming splits where the bytes allow.
     */
    public static AttentionWorkspace forStep(CudaDevice device, int maxTokens, int numHeads, int headDim, int maxContext) {
        long statesAllowed = STEP_WORKSPACE_BYTES / (4L * (headDim + 2));
        long splitsAllowed = Math.max(1, statesAllowed / ((long) maxTokens * numHeads));
        int splitSize = (int) Math.max(MIN_SPLIT_SIZE, (maxContext + splitsAllowed - 1) / splitsAllowed);
        int v1Splits = (maxContext + splitSize - 1) / splitSize;  // <= splitsAllowed
        int maxSplits = (int) Math.max(v1Splits, Math.min(splitsAllowed, PagedAttentionKernel.MAX_SPLITS));
        return allocate(device, maxTokens, numHeads, headDim, splitSize, maxContext, maxSplits);
    }

    @Override
    public void close() {
        partMax.close();
        partSum.close();
        partAcc.close();
        counters.close();
    }
}
