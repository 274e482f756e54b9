package io.radixlm.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Builds a {@link ForwardBatch} sequence by sequence from each sequence's new tokens and its pages, so that
 * the page arithmetic (slot = page · pageSize + offset; block table = the pages that cover the context) lives
 * in one place for batches made by hand: benches, the engine's one-sequence paths, tests. The scheduler's
 * ModelRunner builds its batches from its own Sequences.
 */
public final class ForwardBatchBuilder {

    /** One sequence of the batch: newTokens sit at positions [firstPosition, firstPosition + newTokens.length). */
    private record Sequence(int[] newTokens, int firstPosition, int[] pages) { }

    private final int pageSize;
    private final List<Sequence> sequences = new ArrayList<>();
    private int numTokens;

    public ForwardBatchBuilder(int pageSize) {
        if (pageSize <= 0) throw new IllegalArgumentException("page size must be positive: " + pageSize);
        this.pageSize = pageSize;
    }

    /**
     * Adds a sequence whose new tokens follow firstPosition cached ones.
     *
     * @param newTokens     (numNew) the sequence's new tokens
     * @param firstPosition position of the first new token (= tokens of the sequence already in the cache)
     * @param pages         the sequence's page ids in position order, at least enough for its context; its block
     *                      table is their first pagesFor(firstPosition + numNew) entries
     */
    public ForwardBatchBuilder add(int[] newTokens, int firstPosition, int[] pages) {
        int contextLength = firstPosition + newTokens.length;
        if (firstPosition < 0) throw new IllegalArgumentException("negative first position: " + firstPosition);
        if (pages.length < pagesFor(contextLength, pageSize)) {
            throw new IllegalArgumentException(pages.length + " pages cannot hold " + contextLength + " tokens");
        }
        sequences.add(new Sequence(newTokens.clone(), firstPosition, pages));
        numTokens += newTokens.length;
        return this;
    }

    /** Adds a sequence whose tokens ids[from, to) are new (those before from are in the cache). */
    public ForwardBatchBuilder addChunk(int[] ids, int from, int to, int[] pages) {
        // copyOfRange would pad a range past the end with token 0
        if (to > ids.length) throw new IllegalArgumentException("chunk end " + to + " past the " + ids.length + " ids");
        return add(Arrays.copyOfRange(ids, from, to), from, pages);
    }

    /** The batch returning the logits of the given token rows, in that order. */
    public ForwardBatch build(int... logitRows) {
        int numSeqs = sequences.size();
        int[] tokenIds = new int[numTokens];         // (numTokens)
        int[] positions = new int[numTokens];        // (numTokens)
        int[] slots = new int[numTokens];            // (numTokens)
        int[] queryStarts = new int[numSeqs + 1];    // (numSeqs + 1)
        int[] contextLengths = new int[numSeqs];     // (numSeqs)
        int[][] blockTables = new int[numSeqs][];    // (numSeqs, pages covering the context)
        int row = 0;
        for (int s = 0; s < numSeqs; s++) {
            Sequence seq = sequences.get(s);
            contextLengths[s] = seq.firstPosition() + seq.newTokens().length;
            blockTables[s] = Arrays.copyOf(seq.pages(), pagesFor(contextLengths[s], pageSize));
            for (int i = 0; i < seq.newTokens().length; i++, row++) {
                tokenIds[row] = seq.newTokens()[i];
                positions[row] = seq.firstPosition() + i;
                slots[row] = slot(seq.pages(), positions[row], pageSize);
            }
            queryStarts[s + 1] = row;
        }
        return new ForwardBatch(tokenIds, positions, slots, queryStarts, contextLengths, blockTables, logitRows.clone());
    }

    /** The batch returning the logits of every new token. */
    public ForwardBatch buildAllRows() {
        int[] rows = new int[numTokens];
        for (int r = 0; r < numTokens; r++) rows[r] = r;
        return build(rows);
    }

    /** The batch returning the logits of each sequence's last new token (the one a step samples from). */
    public ForwardBatch buildLastRows() {
        int[] rows = new int[sequences.size()];
        int end = 0;
        for (int s = 0; s < rows.length; s++) {
            end += sequences.get(s).newTokens().length;
            rows[s] = end - 1;
        }
        return build(rows);
    }

    /**
     * A decode step: sequence s brings one token, tokens[s] at positions[s], on pages[s] (position order, at
     * least enough for positions[s] + 1 tokens); every row's logits come back.
     */
    public static ForwardBatch decode(int[] tokens, int[] positions, int[][] pages, int pageSize) {
        if (positions.length != tokens.length || pages.length != tokens.length) {
            throw new IllegalArgumentException("one token, position and page list per sequence");
        }
        ForwardBatchBuilder builder = new ForwardBatchBuilder(pageSize);
        for (int s = 0; s < tokens.length; s++) builder.add(new int[] {tokens[s]}, positions[s], pages[s]);
        return builder.buildAllRows();
    }

    /** The KV slot of position in a sequence laid out on pages (position order). */
    public static int slot(int[] pages, int position, int pageSize) {
        return pages[position / pageSize] * pageSize + position % pageSize;
    }

    /** The page ids firstPage, firstPage + 1, ..., count of them (a layout of hand-built batches). */
    public static int[] consecutivePages(int firstPage, int count) {
        int[] pages = new int[count];
        for (int p = 0; p < count; p++) pages[p] = firstPage + p;
        return pages;
    }

    /** Pages needed to hold length tokens. */
    public static int pagesFor(int length, int pageSize) {
        return (length + pageSize - 1) / pageSize;
    }
}
