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
 * @param blockTables (numSeqs, maxPagesPerSeq) flattened, rows padded with page 0 (never read past the context)
 * @param prefillTiles (numTiles, PrefillAttentionKernel.TILE_INTS): the tiles of the sequences with several new tokens
 * @param prefillToken (numTokens) 1 for a token of such a sequence (prefill_attention's), 0 for a decode token
 */
record StepMetadata(int[] tokenIds, int[] positions, int[] slotMapping, int[] tokenSeq, int[] blockTables,
                    int[] logitRows, int[] prefillTiles, int[] prefillToken) {

    /** The batch as it is; with usePrefillKernel false every token goes to the paged (decode) kernel. */
    static StepMetadata of(ForwardBatch batch, int maxPagesPerSeq, int group, boolean usePrefillKernel) {
        int numSeqs = batch.numSeqs();
        int[] tokenSeq = new int[batch.numTokens()];
        for (int s = 0; s < numSeqs; s++) {
            for (int t = batch.queryStarts()[s]; t < batch.queryStarts()[s + 1]; t++) tokenSeq[t] = s;
        }
        int[] tables = new int[numSeqs * maxPagesPerSeq];
        for (int s = 0; s < numSeqs; s++) {
            int[] table = batch.blockTables()[s];
            System.arraycopy(table, 0, tables, s * maxPagesPerSeq, table.length);
        }
        int[] prefillTiles = usePrefillKernel
                ? PrefillAttentionKernel.tiles(batch.queryStarts(), batch.positions(), group, 2) : new int[0];
        int[] prefillToken = new int[batch.numTokens()];
        for (int i = 0; i < prefillTiles.length; i += PrefillAttentionKernel.TILE_INTS) {
            int first = prefillTiles[i + 1];
            Arrays.fill(prefillToken, first, first + prefillTiles[i + 2], 1);
        }
        return new StepMetadata(batch.tokenIds(), batch.positions(), batch.slotMapping(), tokenSeq, tables,
                batch.logitRows(), prefillTiles, prefillToken);
    }

    /** A decode batch (one token per sequence, logit rows 0..n-1) padded to bucket sequences. */
    static StepMetadata paddedDecode(ForwardBatch batch, int bucket, int scratchPage, int pageSize, int maxPagesPerSeq) {
        int n = batch.numTokens();
        int[] tokenIds = new int[bucket];
        int[] positions = new int[bucket];
        int[] slots = new int[bucket];
        int[] tokenSeq = new int[bucket];
        int[] rows = new int[bucket];
        int[] tables = new int[bucket * maxPagesPerSeq];
        System.arraycopy(batch.tokenIds(), 0, tokenIds, 0, n);
        System.arraycopy(batch.positions(), 0, positions, 0, n);
        System.arraycopy(batch.slotMapping(), 0, slots, 0, n);
        for (int s = 0; s < bucket; s++) {
            tokenSeq[s] = s;
            rows[s] = s;
            if (s < n) {
                int[] table = batch.blockTables()[s];
                System.arraycopy(table, 0, tables, s * maxPagesPerSeq, table.length);
            } else {
                tables[s * maxPagesPerSeq] = scratchPage;
                slots[s] = scratchPage * pageSize; // all padding rows write the same K/V (token 0, position 0)
            }
        }
        return new StepMetadata(tokenIds, positions, slots, tokenSeq, tables, rows, new int[0], new int[bucket]);
    }

    /**
     * Lays b's inputs out for this step's sizes and enqueues their copy on the stream (pinned staging, asynchronous),
     * with the rows' packed sampling parameters (SamplingKernel.packInts; may be empty): kernels enqueued after it see
     * the values.
     */
    void upload(StepBuffers b, int[] sampleParams) {
        b.layInputs(tokenIds.length, logitRows.length, blockTables.length / b.maxPagesPerSeq, numPrefillTiles());
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
