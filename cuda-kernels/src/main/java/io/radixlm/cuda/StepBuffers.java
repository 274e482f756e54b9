package io.radixlm.cuda;

import io.radixlm.model.ModelConfig;

/**
 * Device buffers of one forward step, allocated for up to maxTokens new tokens, maxRows logit rows and
 * maxSeqs sequences of at most maxPagesPerSeq pages, and reused step after step (a captured CUDA graph
 * relies on their addresses staying put). {@link CudaBackend} replaces them with larger ones when a
 * step does not fit.
 */
final class StepBuffers implements AutoCloseable {
    final int maxTokens;
    final int maxRows;
    final int maxSeqs;
    final int maxPagesPerSeq;
    final DeviceMemory tokenIds;    // (maxTokens) int
    final DeviceMemory positions;   // (maxTokens) int
    final DeviceMemory slotMapping; // (maxTokens) int
    final DeviceMemory tokenSeq;    // (maxTokens) int: the sequence of each token
    final DeviceMemory blockTables; // (maxSeqs, maxPagesPerSeq) int
    final DeviceMemory logitRows;   // (maxRows) int
    final DeviceMemory prefillTiles; // (maxTokens, PrefillAttentionKernel.TILE_INTS) int: at most one tile per token
    final DeviceMemory prefillToken; // (maxTokens) int: 1 where prefill_attention serves the token
    final DeviceMemory residual;    // (maxTokens, hidden) f32: the residual stream
    final DeviceMemory normed;      // (maxTokens, hidden) bf16: RMSNorm output, GEMM input
    final DeviceMemory qkv;         // (maxTokens, qDim + 2 kvDim) f32
    final DeviceMemory q;           // (maxTokens, qDim) f32, after RoPE
    final DeviceMemory ropeAngles;  // (headDim / 2) float2: (cos, sin) of a 1-token step's angles
    final DeviceMemory attnOut;     // (maxTokens, qDim) bf16
    final DeviceMemory proj;        // (maxTokens, hidden) f32: o_proj or down_proj output (not written under FUSED)
    final DeviceMemory gateUp;      // (maxTokens, 2 intermediate) f32, or bf16 in its first half (CudaBackend.Epilogue.FUSED)
    final DeviceMemory act;         // (maxTokens, intermediate) bf16
    final DeviceMemory rowsNormed;  // (maxRows, hidden) bf16: final norm of the logit rows
    final DeviceMemory logits;      // (maxRows, vocab) f32
    final DeviceMemory sampled;     // (maxRows) int
    final DeviceMemory argmaxScratch; // (maxRows, ArgmaxKernel.MAX_CHUNKS) partial maxima
    final AttentionWorkspace attention;
    final StagedUpload staging;      // pinned host copies of the metadata buffers above
    final PrefillWorkspace prefillSplits; // split states of prefill_attention over keys (few tiles, long prefixes)

    StepBuffers(CudaDevice device, ModelConfig c, int maxTokens, int maxRows, int maxSeqs, int maxPagesPerSeq,
                int maxContext) {
        this.maxTokens = maxTokens;
        this.maxRows = maxRows;
        this.maxSeqs = maxSeqs;
        this.maxPagesPerSeq = maxPagesPerSeq;
        long t = maxTokens;
        tokenIds = device.allocate(4 * t);
        positions = device.allocate(4 * t);
        slotMapping = device.allocate(4 * t);
        tokenSeq = device.allocate(4 * t);
        blockTables = device.allocate(4L * maxSeqs * maxPagesPerSeq);
        logitRows = device.allocate(4L * maxRows);
        prefillTiles = device.allocate(4L * PrefillAttentionKernel.TILE_INTS * t);
        prefillToken = device.allocate(4 * t);
        residual = device.allocate(4 * t * c.hiddenSize());
        normed = device.allocate(2 * t * c.hiddenSize());
        qkv = device.allocate(4 * t * (c.qDim() + 2L * c.kvDim()));
        q = device.allocate(4 * t * c.qDim());
        ropeAngles = device.allocate(4L * c.headDim());
        attnOut = device.allocate(2 * t * c.qDim());
        proj = device.allocate(4 * t * c.hiddenSize());
        gateUp = device.allocate(8 * t * c.intermediateSize());
        act = device.allocate(2 * t * c.intermediateSize());
        rowsNormed = device.allocate(2L * maxRows * c.hiddenSize());
        logits = device.allocate(4L * maxRows * c.vocabSize());
        sampled = device.allocate(4L * maxRows);
        argmaxScratch = device.allocate(ArgmaxKernel.scratchBytes(maxRows));
        staging = new StagedUpload(device, java.util.List.of(tokenIds, positions, slotMapping, tokenSeq, blockTables,
                logitRows, prefillTiles, prefillToken));
        attention = AttentionWorkspace.forStep(device, maxTokens, c.numHeads(), c.headDim(), maxContext);
        prefillSplits = PrefillWorkspace.allocate(device, PrefillWorkspace.MAX_STATES, c.headDim());
    }

    boolean fits(int numTokens, int numRows, int numSeqs, int pagesPerSeq) {
        return numTokens <= maxTokens && numRows <= maxRows && numSeqs <= maxSeqs && pagesPerSeq <= maxPagesPerSeq;
    }

    @Override
    public void close() {
        staging.close(); // waits for copies still reading the staging memory
        for (DeviceMemory m : new DeviceMemory[] {tokenIds, positions, slotMapping, tokenSeq, blockTables, logitRows,
                prefillTiles, prefillToken, residual, normed, qkv, q, ropeAngles, attnOut, proj, gateUp, act, rowsNormed, logits, sampled, argmaxScratch}) {
            m.close();
        }
        attention.close();
        prefillSplits.close();
    }
}
