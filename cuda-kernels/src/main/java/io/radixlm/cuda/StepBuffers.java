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
    /** This step's block-table row width (pages, at most maxPagesPerSeq): the stride the attention kernels read. */
    int tableStride;
    // The step's int inputs: slices of `inputs`, laid out back to back for each step's sizes (layInputs), so that
    // one copy uploads them all. A decode graph's bucket and table width always get the same layout, so its captured
    // pointers hold.
    DeviceMemory tokenIds;    // (numTokens) int; -1 - r: the id the previous step sampled in row r (see sampled)
    DeviceMemory positions;   // (numTokens) int
    DeviceMemory slotMapping; // (numTokens) int
    DeviceMemory tokenSeq;    // (numTokens) int: the sequence of each token
    DeviceMemory logitRows;   // (numRows) int
    DeviceMemory prefillToken; // (numTokens) int: 1 where prefill_attention serves the token
    DeviceMemory blockTables; // (numSeqs, tableStride) int
    DeviceMemory prefillTiles; // (numTiles, PrefillAttentionKernel.TILE_INTS) int: at most one tile per token
    DeviceMemory sampleParams; // (numRows, SamplingKernel.PARAMS_PER_ROW) int64: sample_rows' parameters
    private final DeviceMemory inputs; // room for the slices above at their largest
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
        inputs = device.allocate(4L * inputInts(maxTokens, maxRows, maxSeqs, maxTokens));
        layInputs(maxTokens, maxRows, maxSeqs, maxTokens, maxPagesPerSeq);
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
        staging = new StagedUpload(device, inputs);
        attention = AttentionWorkspace.forStep(device, maxTokens, c.numHeads(), c.headDim(), maxContext);
        prefillSplits = PrefillWorkspace.allocate(device, PrefillWorkspace.MAX_STATES, c.headDim());
    }

    /**
     * Cuts the step's inputs from one allocation, back to back in the order of the fields, for numTokens
     * tokens, numRows logit rows, numSeqs sequences of block-table rows tableStride pages wide and numTiles prefill
     * tiles (each at least one element).
     * The sampling parameters come last, so that a decode graph's inputs sit where they were captured whether
     * or not a step samples.
     */
    void layInputs(int numTokens, int numRows, int numSeqs, int numTiles, int tableStride) {
        if (!fits(numTokens, numRows, numSeqs, tableStride) || numTiles > maxTokens || tableStride < 1) {
            throw new IllegalArgumentException("inputs of " + numTokens + " tokens, " + numRows + " rows, " + numSeqs
                    + " sequences of " + tableStride + " pages, " + numTiles + " tiles do not fit buffers for "
                    + maxTokens + ", " + maxRows + ", " + maxSeqs + " of " + maxPagesPerSeq);
        }
        this.tableStride = tableStride;
        long[] next = {0};
        tokenIds = cut(next, numTokens);
        positions = cut(next, numTokens);
        slotMapping = cut(next, numTokens);
        tokenSeq = cut(next, numTokens);
        logitRows = cut(next, numRows);
        prefillToken = cut(next, numTokens);
        blockTables = cut(next, (long) numSeqs * tableStride);
        prefillTiles = cut(next, (long) numTiles * PrefillAttentionKernel.TILE_INTS);
        sampleParams = cut(next, 2L * numRows * SamplingKernel.PARAMS_PER_ROW);
    }

    /** The next slice of count ints (at least one) from ints next[0] on, which moves past it to a 128-byte boundary. */
    private DeviceMemory cut(long[] next, long count) {
        DeviceMemory slice = inputs.slice(4 * next[0], 4 * Math.max(1, count));
        next[0] += alignedInts(count);
        return slice;
    }

    private static long alignedInts(long count) { return (Math.max(1, count) + INPUT_ALIGN - 1) / INPUT_ALIGN * INPUT_ALIGN; }

    /** Ints of the inputs at the given sizes, as layInputs lays them. */
    private long inputInts(int numTokens, int numRows, int numSeqs, int numTiles) {
        return 5 * alignedInts(numTokens) + alignedInts(numRows) + alignedInts((long) numSeqs * maxPagesPerSeq)
                + alignedInts((long) numTiles * PrefillAttentionKernel.TILE_INTS)
                + alignedInts(2L * numRows * SamplingKernel.PARAMS_PER_ROW);
    }

    private static final int INPUT_ALIGN = 32; // ints: 128 bytes

    boolean fits(int numTokens, int numRows, int numSeqs, int pagesPerSeq) {
        return numTokens <= maxTokens && numRows <= maxRows && numSeqs <= maxSeqs && pagesPerSeq <= maxPagesPerSeq;
    }

    @Override
    public void close() {
        staging.close(); // waits for copies still reading the staging memory
        for (DeviceMemory m : new DeviceMemory[] {inputs, residual, normed, qkv, q, ropeAngles, attnOut, proj, gateUp, act, rowsNormed, logits, sampled, argmaxScratch}) {
            m.close();
        }
        attention.close();
        prefillSplits.close();
    }
}
