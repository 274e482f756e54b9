package io.radixlm.cuda;

import io.radixlm.backend.ForwardBatch;

import java.util.Arrays;

/**
 * The host-side arrays one step copies into its {@link StepBuffers}: the batch's own, or a decode
 * batch padded to its graph bucket. Padding rows decode token 0 at position 0 of their own sequence,
 * whose block table names only the scratch page (the page after the pool), so they touch no real KV;
 * their logits are computed and ignored.
 *
 * @param tokenSeq    (numTokens) the sequence of each token
 * @param blockTables (numSeqs, tableStride) flattened, rows padded with page 0 (never read past the context)
 * @param prefillTiles (numTiles, PrefillAttentionKernel.TILE_INTS): the tiles of the sequences with several new tokens
 * @param prefillToken (numTokens) 1 for a token of such a sequence (prefill_attention's), 0 for a decode token
 */
record StepMetadata(int[] tokenIds, int[] positions, int[] slotMapping, int[] tokenSeq, int[] blockTables,
                    int tableStride, int[] logitRows, int[] prefillTiles, int[] prefillToken) {

    /** -Dradixlm.trimBlockTables=false: every step uploads its block tables at the buffers' full width. */
    static final boolean TRIM_BLOCK_TABLES = !"false".equals(System.getProperty("radixlm.trimBlockTables"));
    /** The narrowest block-table row a step uploads (pages). */
    static final int MIN_TABLE_STRIDE = 16;

    /**
     * The row width (pages) of a step's block tables whose longest sequence covers pagesPerSeq pages, in buffers
     * of maxPagesPerSeq: the next power of two (at least {@link #MIN_TABLE_STRIDE}), at most maxPagesPerSeq. Rows
     * of the model's whole context (8,192 pages for a 128k-token model) would make a step at batch 256 upload 8 MB
     * of mostly padding; in powers of two a decode graph, which captures the width, is recaptured only when its
     * longest context doubles.
     */
    static int tableStride(int pagesPerSeq, int maxPagesPerSeq) {
        if (pagesPerSeq > maxPagesPerSeq) {
            throw new IllegalArgumentException(pagesPerSeq + " pages do not fit rows of " + maxPagesPerSeq);
        }
        if (!TRIM_BLOCK_TABLES) return maxPagesPerSeq;
        int power = Math.max(MIN_TABLE_STRIDE, Integer.highestOneBit(Math.max(1, pagesPerSeq - 1)) << 1);
        return Math.min(maxPagesPerSeq, power);
    }

    /** The batch as it is; with usePrefillKernel false every token goes to the paged (decode) kernel. */
    static StepMetadata of(ForwardBatch batch, int tableStride, int group, boolean usePrefillKernel) {
        int numSeqs = batch.numSeqs();
        int[] tokenSeq = new int[batch.numTokens()];
        for (int s = 0; s < numSeqs; s++) {
            for (int t = batch.queryStarts()[s]; t < batch.queryStarts()[s + 1]; t++) tokenSeq[t] = s;
        }
        int[] tables = new int[numSeqs * tableStride];
        for (int s = 0; s < numSeqs; s++) {
            int[] table = batch.blockTables()[s];
            System.arraycopy(table, 0, tables, s * tableStride, table.length);
        }
        int[] prefillTiles = usePrefillKernel
                ? PrefillAttentionKernel.tiles(batch.queryStarts(), batch.positions(), group, 2) : new int[0];
        int[] prefillToken = new int[batch.numTokens()];
        for (int i = 0; i < prefillTiles.length; i += PrefillAttentionKernel.TILE_INTS) {
            int first = prefillTiles[i + 1];
            Arrays.fill(prefillToken, first, first + prefillTiles[i + 2], 1);
        }
        return new StepMetadata(batch.tokenIds(), batch.positions(), batch.slotMapping(), tokenSeq, tables, tableStride,
                batch.logitRows(), prefillTiles, prefillToken);
    }

    /** A decode batch (one token per sequence, logit rows 0..n-1) padded to bucket sequences. */
    static StepMetadata paddedDecode(ForwardBatch batch, int bucket, int scratchPage, int pageSize, int tableStride) {
        int n = batch.numTokens();
        int[] tokenIds = new int[bucket];
        int[] positions = new int[bucket];
        int[] slots = new int[bucket];
        int[] tokenSeq = new int[bucket];
        int[] rows = new int[bucket];
        int[] tables = new int[bucket * tableStride];
        System.arraycopy(batch.tokenIds(), 0, tokenIds, 0, n);
        System.arraycopy(batch.positions(), 0, positions, 0, n);
        System.arraycopy(batch.slotMapping(), 0, slots, 0, n);
        for (int s = 0; s < bucket; s++) {
            tokenSeq[s] = s;
            rows[s] = s;
            if (s < n) {
                int[] table = batch.blockTables()[s];
                System.arraycopy(table, 0, tables, s * tableStride, table.length);
            } else {
                tables[s * tableStride] = scratchPage;
                slots[s] = scratchPage * pageSize; // all padding rows write the same K/V (token 0, position 0)
            }
        }
        return new StepMetadata(tokenIds, positions, slots, tokenSeq, tables, tableStride, rows, new int[0], new int[bucket]);
    }

    /**
     * Lays b's inputs out for this step's sizes and enqueues their copy on the stream (pinned staging, asynchronous),
     * with the rows' packed sampling parameters (SamplingKernel.packInts; may be empty): kernels enqueued after it see
     * the values.
     */
    void upload(StepBuffers b, int[] sampleParams) {
        b.layInputs(tokenIds.length, logitRows.length, blockTables.length / tableStride, numPrefillTiles(), tableStride);
        b.staging.copy(new DeviceMemory[] {b.tokenIds, b.positions, b.slotMapping, b.tokenSeq, b.logitRows, b.prefillToken,
                        b.blockTables, b.prefillTiles, b.sampleParams},
                new int[][] {tokenIds, positions, slotMapping, tokenSeq, logitRows, prefillToken, blockTables, prefillTiles,
                        sampleParams});
    }

    int numPrefillTiles() { return prefillTiles.length / PrefillAttentionKernel.TILE_INTS; }

    /** Tokens the paged (decode) kernel serves: those outside the prefill tiles. */
    int numDecodeTokens() {
        int n = 0;
        for (int flag : prefillToken) n += 1 - flag;
        return n;
    }
}
