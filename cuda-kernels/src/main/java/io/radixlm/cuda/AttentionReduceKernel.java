package io.radixlm.cuda;

/** attention_reduce: merges the split softmax states into out (numTokens, numHeads, headDim) bf16. */
public final class AttentionReduceKernel {
    private final CudaDevice device;

    public AttentionReduceKernel(CudaDevice device) { this.device = device; }

    public void launch(AttentionWorkspace workspace, DeviceMemory positions, DeviceMemory out, int numTokens) {
        launch(workspace, positions, out, numTokens, null);
    }

    /** As above, leaving alone the rows of tokens whose skipToken entry (numTokens ints; null: none) is nonzero. */
    public void launch(AttentionWorkspace workspace, DeviceMemory positions, DeviceMemory out, int numTokens,
                       DeviceMemory skipToken) {
        if (numTokens > workspace.maxTokens()) throw new IllegalArgumentException("workspace too small");
        positions.requireElements(numTokens, 4, "positions");
        out.requireElements((long) numTokens * workspace.numHeads() * workspace.headDim(), 2, "attention out");
        if (skipToken != null) skipToken.requireElements(numTokens, 4, "skipToken");
        device.launch("attention_reduce", Dim3.of(numTokens, workspace.numHeads()), Dim3.of(workspace.headDim()), 0,
                new KernelArgs().ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(positions).i32(workspace.numHeads()).i32(workspace.headDim())
                        .i32(workspace.splitSize()).i32(workspace.maxSplits()).ptr(out)
                        .ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
    }
}
