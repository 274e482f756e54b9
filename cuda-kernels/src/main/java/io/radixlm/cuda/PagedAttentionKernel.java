package io.radixlm.cuda;

/**
 * paged_attention_hd{32,48,64,96,128}: each new token (numTokens) attends keys [0, positions[t]] of its sequence
 * tokenSeq[t], read from kCache/vCache (numSlots, numKvHeads, headDim) bf16 through blockTables
 * (numSeqs, maxPagesPerSeq); writes one softmax state per split of splitSize keys into the workspace.
 * q (numTokens, numHeads, headDim) f32. {@link AttentionReduceKernel} finishes the job.
 */
public final class PagedAttentionKernel {
    private static final int THREADS = 128;
    private static final int MAX_GROUP = 8;
    /** The instantiations of paged_attention_hd* in paged_attention.cu. */
    public static final java.util.List<Integer> SUPPORTED_HEAD_DIMS = java.util.List.of(32, 48, 64, 96, 128);
    private final CudaDevice device;

    public PagedAttentionKernel(CudaDevice device) { this.device = device; }

    /** Paged KV layout of one layer. */
    public record Layout(int numHeads, int numKvHeads, int headDim, int pageSize, int numPages, int maxPagesPerSeq) {
        public Layout {
            if (!SUPPORTED_HEAD_DIMS.contains(headDim)) {
                throw new IllegalArgumentException("attention supports head_dim " + SUPPORTED_HEAD_DIMS + ", not " + headDim);
            }
            if (numHeads % numKvHeads != 0 || numHeads / numKvHeads > MAX_GROUP) {
                throw new IllegalArgumentException("GQA group size must divide evenly and be at most " + MAX_GROUP);
            }
        }
    }

    public void launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                       DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                       Layout layout, AttentionWorkspace workspace) {
        launch(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, numSeqs, layout, workspace, null);
    }

    /**
     * As above, leaving out the tokens whose skipToken entry (numTokens ints; null: none) is nonzero:
     * those rows belong to {@link PrefillAttentionKernel}.
     */
    public void launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                       DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                       Layout layout, AttentionWorkspace workspace, DeviceMemory skipToken) {
        if (numTokens > workspace.maxTokens() || layout.numHeads() != workspace.numHeads()
                || layout.headDim() != workspace.headDim()) {
            throw new IllegalArgumentException("attention workspace too small for " + numTokens + " tokens");
        }
        q.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 4, "attention q");
        long cacheElements = (long) layout.numPages() * layout.pageSize() * layout.numKvHeads() * layout.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        positions.requireElements(numTokens, 4, "positions");
        tokenSeq.requireElements(numTokens, 4, "tokenSeq");
        blockTables.requireElements((long) numSeqs * layout.maxPagesPerSeq(), 4, "blockTables");
        if (skipToken != null) skipToken.requireElements(numTokens, 4, "skipToken");
        float scale = (float) (1.0 / Math.sqrt(layout.headDim()));
        device.launch("paged_attention_hd" + layout.headDim(),
                new Dim3(numTokens, layout.numKvHeads(), workspace.maxSplits()), Dim3.of(THREADS), 0,
                new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(tokenSeq).ptr(blockTables)
                        .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(layout.numHeads())
                        .i32(layout.numKvHeads()).i32(workspace.splitSize()).i32(workspace.maxSplits()).f32(scale)
                        .ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
    }
}
