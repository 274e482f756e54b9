package io.radixlm.backend;

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

    public int numTokens() { return tokenIds.length; }

    public int numSeqs() { return contextLengths.length; }

    public int queryLength(int seq) { return queryStarts[seq + 1] - queryStarts[seq]; }
}
