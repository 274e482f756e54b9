package io.radixlm.backend;

import java.util.Arrays;

/**
 * Attention metadata and inputs of one model step over a batch of sequences (varlen layout: the new
 * tokens of all sequences concatenated, sequence by sequence). A decode step is the case where each
 * sequence brings one new token; a prefill chunk brings several; a step may mix both.
 *
 * @param tokenIds       (numTokens) the new tokens
 * @param positions      (numTokens) absolute position of each new token in its sequence
 * @param slotMapping    (numTokens) KV slot (page * pageSize + offset) each new token's K/V is written to
 * @param queryStarts    (numSeqs + 1) row of each sequence's first new token; queryStarts[numSeqs] = numTokens
 * @param contextLengths (numSeqs) tokens of the sequence in the cache after this step (cached + new);
 *                       the new tokens are its last (queryStarts[s+1] - queryStarts[s]) positions
 * @param blockTables    (numSeqs, pages) page ids holding positions [0, contextLengths[s]) of each sequence
 * @param logitRows      token rows whose logits the step returns, in the order they are returned
 *                       (usually the last new token of each sequence that finishes its prompt or decodes)
 */
public record ForwardBatch(int[] tokenIds, int[] positions, int[] slotMapping, int[] queryStarts,
                           int[] contextLengths, int[][] blockTables, int[] logitRows) {

    public ForwardBatch {
        int numTokens = tokenIds.length;
        int numSeqs = contextLengths.length;
        if (positions.length != numTokens || slotMapping.length != numTokens) {
            throw new IllegalArgumentException("positions and slotMapping must have one entry per token");
        }
        if (queryStarts.length != numSeqs + 1 || queryStarts[0] != 0 || queryStarts[numSeqs] != numTokens) {
            throw new IllegalArgumentException("queryStarts must run from 0 to numTokens with numSeqs + 1 entries");
        }
        if (blockTables.length != numSeqs) {
            throw new IllegalArgumentException("one block table per sequence");
        }
        for (int s = 0; s < numSeqs; s++) {
            int newTokens = queryStarts[s + 1] - queryStarts[s];
            if (newTokens < 0 || newTokens > contextLengths[s]) {
                throw new IllegalArgumentException("sequence " + s + ": bad query length " + newTokens);
            }
        }
        for (int row : logitRows) {
            if (row < 0 || row >= numTokens) throw new IllegalArgumentException("logit row out of range: " + row);
        }
    }

    /**
     * This batch with every fed token ({@link Backend#fedId}) replaced by the id previous sampled in its row;
     * the batch itself when no token is fed.
     *
     * @throws IllegalArgumentException when a token is fed and previous is null or has no such row
     */
    public ForwardBatch withFedIds(PendingIds previous) {
        int[] fedRows = fedRows();
        if (fedRows == null) return this;
        if (previous == null) throw new IllegalArgumentException("a token is fed from the previous step, but there is none");
        int[] ids = previous.await();
        int[] resolved = tokenIds.clone();
        for (int t = 0; t < resolved.length; t++) {
            if (fedRows[t] < 0) continue;
            if (fedRows[t] >= ids.length) {
                throw new IllegalArgumentException("token " + t + " is fed from row " + fedRows[t] + " of a step of "
                        + ids.length + " rows");
            }
            resolved[t] = ids[fedRows[t]];
        }
        return new ForwardBatch(resolved, positions, slotMapping, queryStarts, contextLengths, blockTables, logitRows);
    }

    /**
     * (numTokens) the previous step's logit row each token is fed from, -1 for a token given by its id;
     * null when no token is fed.
     */
    public int[] fedRows() {
        int[] rows = null;
        for (int t = 0; t < tokenIds.length; t++) {
            if (tokenIds[t] >= 0) continue;
            if (rows == null) {
                rows = new int[tokenIds.length];
                Arrays.fill(rows, -1);
            }
            rows[t] = -1 - tokenIds[t];
        }
        return rows;
    }

    public int numTokens() { return tokenIds.length; }

    public int numSeqs() { return contextLengths.length; }

    public int queryLength(int seq) { return queryStarts[seq + 1] - queryStarts[seq]; }
}
