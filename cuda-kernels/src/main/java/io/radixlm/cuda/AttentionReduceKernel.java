package io.radixlm.cuda;

/**
 * attention_reduce (after the V1 paged kernel) or attention_reduce_split (after the streaming one): merges
 * the split softmax states into out (numTokens, numHeads, headDim) bf16.
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
        if (numTokens > workspace.maxTokens()) throw new IllegalArgumentException("workspace too small");
        if (splits.numSplits() > workspace.maxSplits()) throw new IllegalArgumentException("more splits than the workspace holds");
        positions.requireElements(numTokens, 4, "positions");
        out.requireElements((long) numTokens * workspace.numHeads() * workspace.headDim(), 2, "attention out");
        if (skipToken != null) skipToken.requireElements(numTokens, 4, "skipToken");
        boolean streaming = splits.variant() == PagedAttentionKernel.Variant.STREAMING;
        // V1 knows its splits by their fixed size; the streaming kernel by their count (see splitChunk)
        int splitRule = streaming ? splits.numSplits() : workspace.splitSize();
        device.launch(streaming ? "attention_reduce_split" : "attention_reduce", Dim3.of(numTokens, workspace.numHeads()),
                Dim3.of(workspace.headDim()), 0,
                new KernelArgs().ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(positions).i32(workspace.numHeads()).i32(workspace.headDim())
                        .i32(splitRule).i32(workspace.maxSplits()).ptr(out)
                        .ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
    }
}
