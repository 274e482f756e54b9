package io.radixlm.cuda;

import io.radixlm.backend.ForwardBatch;

/**
 * The host-side arrays one step copies into its {@link StepBuffers}: the batch's own, or a decode
 * batch padded to its graph bucket. Padding rows decode token 0 at position 0 of their own sequence,
 * whose block table names only the scratch page (the page after the pool), so they touch no real KV;
 * their logits are computed and ignored.
 *
 * @param tokenSeq    (numTokens) the sequence of each token
 * @param blockTables (numSeqs, maxPagesPerSeq) flattened, rows padded with page 0 (never read past the context)
 */
record StepMetadata(int[] tokenIds, int[] positions, int[] slotMapping, int[] tokenSeq, int[] blockTables,
                    int[] logitRows) {

    static StepMetadata of(ForwardBatch batch, int maxPagesPerSeq) {
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
        return new StepMetadata(batch.tokenIds(), batch.positions(), batch.slotMapping(), tokenSeq, tables,
                batch.logitRows());
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
        return new StepMetadata(tokenIds, positions, slots, tokenSeq, tables, rows);
    }

    void upload(StepBuffers b) {
        b.tokenIds.copyFrom(tokenIds);
        b.positions.copyFrom(positions);
        b.slotMapping.copyFrom(slotMapping);
        b.tokenSeq.copyFrom(tokenSeq);
        b.blockTables.copyFrom(blockTables);
        b.logitRows.copyFrom(logitRows);
    }
}
