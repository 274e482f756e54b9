package io.radixlm.cuda;

/**
 * attention_reduce (after the V1 paged kernel) or attention_reduce_split (after the streaming ones, V2 and V3): merges
 * the split softmax states into out (numTokens, numHeads, headDim) bf16. Launches nothing after a fused V3 kernel,
 * which wrote out itself ({@link PagedAttentionKernel.Splits#outWritten}).
 */
public final class AttentionReduceKernel {
    private final CudaDevice device;

    public AttentionReduceKernel(CudaDevice device) { this.device = device; }

    /** splits: what {@link PagedAttentionKernel#launch} returned for the same tokens. */
    public void launch(AttentionWorkspace workspace, PagedAttentionKernel.Splits splits, DeviceMemory positions,
                       DeviceMemory out, int numTokens) {
        launch(workspace, splits, positions, out, numTokens, null);
    }

    /** As above, leaving alone the rows of tokens whose skipToken entry (numTokens ints; null: none) is nonzero. */
    public void launch(AttentionWorkspace workspace, PagedAttentionKernel.Splits splits, DeviceMemory positions,
                       DeviceMemory out, int numTokens, DeviceMemory skipToken) {
        if (splits.outWritten()) return;
        if (numTokens > workspace.maxTokens()) throw new IllegalArgumentException("workspace too small");
        if ((long) numTokens * splits.numSplits() > (long) workspace.maxTokens() * workspace.maxSplits()) {
            throw new IllegalArgumentException("more splits than the workspace holds");
        }
        positions.requireElements(numTokens, 4, "positions");
        out.requireElements((long) numTokens * workspace.numHeads() * workspace.headDim(), 2, "attention out");
        if (skipToken != null) skipToken.requireElements(numTokens, 4, "skipToken");
        var args = new KernelArgs().ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                .ptr(positions).i32(workspace.numHeads()).i32(workspace.headDim());
        if (splits.variant().packedStates()) {
            // packed states, splits known by their count (splitChunk); the shuffles need whole warps
            // (head_dim 48 gets 64 threads, 16 idle)
            device.launch("attention_reduce_split", Dim3.of(numTokens, workspace.numHeads()),
                    Dim3.of((workspace.headDim() + 31) / 32 * 32), 0,
                    args.i32(splits.numSplits()).ptr(out).ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
        } else {
            // states strided by maxSplits, splits known by their fixed size
            device.launch("attention_reduce", Dim3.of(numTokens, workspace.numHeads()), Dim3.of(workspace.headDim()), 0,
                    args.i32(workspace.splitSize()).i32(workspace.maxSplits()).ptr(out)
                            .ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
        }
    }
}
