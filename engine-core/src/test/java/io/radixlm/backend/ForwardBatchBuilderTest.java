package io.radixlm.backend;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The builder's slot and page arithmetic, checked against the arrays the hand-written batch code it replaced
 * (in benches, the engine and GPU tests) produced, copied here as it was, so that the replacement is exact.
 */
class ForwardBatchBuilderTest {
    private static final int PAGE_SIZE = 16;
    private static final int MAX_PAGES = 20;

    @Test
    void prefillChunkOnReversedPagesMatchesTheOldHandBuiltBatch() {
        int[] ids = randomIds(300, 1);
        for (int[] range : new int[][] {{0, 300}, {64, 300}, {0, 20}, {20, 21}, {32, 33}, {17, 45}}) {
            int from = range[0];
            int to = range[1];
            int[] rows = {to - from - 1, 0};
            ForwardBatch built = new ForwardBatchBuilder(PAGE_SIZE).addChunk(ids, from, to, reversedPages(5)).build(rows);
            assertSameBatch(oldReversedPrefill(ids, from, to, rows, 5), built);
        }
    }

    @Test
    void decodeOfSequencesOnReversedPagesMatchesTheOldHandBuiltBatch() {
        int[][] ids = {randomIds(33, 2), randomIds(300, 3), randomIds(7, 4)};
        int[] prompt = {20, 280, 1};
        int[] firstPage = {0, 20, 40};
        for (int step = 0; step < 6; step++) {
            int[] tokens = new int[3];
            int[] positions = new int[3];
            int[][] pages = new int[3][];
            for (int s = 0; s < 3; s++) {
                positions[s] = prompt[s] + step;
                tokens[s] = ids[s][positions[s]];
                pages[s] = reversedPages(firstPage[s]);
            }
            assertSameBatch(oldReversedDecode(ids, prompt, firstPage, step),
                    ForwardBatchBuilder.decode(tokens, positions, pages, PAGE_SIZE));
        }
    }

    @Test
    void decodeAtOneContextOnContiguousPagesMatchesTheOldBenchBatch() {
        for (int[] shape : new int[][] {{1, 1}, {4, 16}, {3, 17}, {8, 100}}) {
            int batchSize = shape[0];
            int context = shape[1];
            int[][] tables = contiguousTables(batchSize, ForwardBatchBuilder.pagesFor(context, PAGE_SIZE));
            int[] tokens = randomIds(batchSize, context);
            int[] positions = new int[batchSize];
            Arrays.fill(positions, context - 1);
            assertSameBatch(oldBenchDecode(tables, tokens, context),
                    ForwardBatchBuilder.decode(tokens, positions, tables, PAGE_SIZE));
        }
    }

    @Test
    void severalMultiTokenSequencesMatchTheOldHandBuiltBatch() {
        int[][] ids = {randomIds(40, 5), randomIds(70, 6), randomIds(9, 7)};
        int[] firstPage = {0, 10, 30};
        int[][] fromAndCount = {{0, 0, 0}, {40, 70, 9}, {3, 17, 8}, {0, 33, 1}, {39, 69, 8}, {1, 1, 1}};
        for (int c = 0; c + 1 < fromAndCount.length; c += 2) {
            int[] from = fromAndCount[c];
            int[] count = fromAndCount[c + 1];
            ForwardBatchBuilder builder = new ForwardBatchBuilder(PAGE_SIZE);
            for (int s = 0; s < 3; s++) {
                int length = from[s] + count[s];
                builder.addChunk(ids[s], from[s], length, contiguous(firstPage[s], ForwardBatchBuilder.pagesFor(length, PAGE_SIZE)));
            }
            assertSameBatch(oldMultiSequence(ids, from, count, firstPage), builder.buildAllRows());
        }
    }

    @Test
    void chunksOnShuffledPagesMatchTheOldEngineChunk() {
        int[] ids = randomIds(100, 8);
        int[] pages = {9, 2, 7, 0, 5, 3, 8};
        for (int[] range : new int[][] {{0, 100}, {0, 16}, {16, 48}, {5, 37}, {99, 100}}) {
            ForwardBatch built = new ForwardBatchBuilder(PAGE_SIZE).addChunk(ids, range[0], range[1], pages).buildAllRows();
            assertSameBatch(oldEngineChunk(ids, range[0], range[1], pages), built);
        }
    }

    @Test
    void aPromptOnPagesZeroOnwardsHasSlotsEqualToPositions() {
        int n = 50;
        int[] tokens = randomIds(n, 9);
        int[] table = contiguous(0, ForwardBatchBuilder.pagesFor(n, PAGE_SIZE));
        ForwardBatch built = new ForwardBatchBuilder(PAGE_SIZE).add(tokens, 0, table).buildLastRows();
        int[] identity = new int[n];
        for (int i = 0; i < n; i++) identity[i] = i;
        assertSameBatch(new ForwardBatch(tokens, identity, identity, new int[] {0, n}, new int[] {n},
                new int[][] {table}, new int[] {n - 1}), built);
    }

    @Test
    void lastRowsAreTheLastNewTokenOfEachSequence() {
        ForwardBatch batch = new ForwardBatchBuilder(4)
                .add(new int[] {1, 2, 3}, 0, new int[] {6})
                .add(new int[] {4}, 9, new int[] {1, 0, 2})
                .add(new int[] {5, 6}, 2, new int[] {3}).buildLastRows();
        assertArrayEquals(new int[] {2, 3, 5}, batch.logitRows());
        assertArrayEquals(new int[] {0, 3, 4, 6}, batch.queryStarts());
        assertArrayEquals(new int[] {3, 10, 4}, batch.contextLengths());
        assertArrayEquals(new int[] {24, 25, 26, 2 * 4 + 1, 3 * 4 + 2, 3 * 4 + 3}, batch.slotMapping());
    }

    @Test
    void tooFewPagesForTheContextAreRefused() {
        ForwardBatchBuilder builder = new ForwardBatchBuilder(PAGE_SIZE);
        assertThrows(IllegalArgumentException.class, () -> builder.add(new int[] {1}, 16, new int[] {0}));
        assertThrows(IllegalArgumentException.class, () -> builder.add(new int[] {1}, -1, new int[] {0}));
        assertEquals(0, builder.build().numSeqs());
    }

    private static void assertSameBatch(ForwardBatch expected, ForwardBatch actual) {
        assertArrayEquals(expected.tokenIds(), actual.tokenIds(), "token ids");
        assertArrayEquals(expected.positions(), actual.positions(), "positions");
        assertArrayEquals(expected.slotMapping(), actual.slotMapping(), "slots");
        assertArrayEquals(expected.queryStarts(), actual.queryStarts(), "query starts");
        assertArrayEquals(expected.contextLengths(), actual.contextLengths(), "context lengths");
        assertArrayEquals(expected.blockTables(), actual.blockTables(), "block tables");
        assertArrayEquals(expected.logitRows(), actual.logitRows(), "logit rows");
    }

    private static int[] randomIds(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = random.nextInt(1000);
        return ids;
    }

    private static int[] reversedPages(int firstPage) {
        int[] pages = new int[MAX_PAGES];
        for (int p = 0; p < MAX_PAGES; p++) pages[p] = firstPage + (MAX_PAGES - 1 - p);
        return pages;
    }

    private static int[] contiguous(int first, int count) {
        int[] pages = new int[count];
        for (int p = 0; p < count; p++) pages[p] = first + p;
        return pages;
    }

    private static int[][] contiguousTables(int numSeqs, int pagesPerSeq) {
        int[][] tables = new int[numSeqs][];
        for (int s = 0; s < numSeqs; s++) tables[s] = contiguous(s * pagesPerSeq, pagesPerSeq);
        return tables;
    }

    // The code the builder replaced, as it was (CudaBackendGpuTest.prefill).
    private static ForwardBatch oldReversedPrefill(int[] ids, int from, int to, int[] logitRows, int firstPage) {
        int numPages = (to + PAGE_SIZE - 1) / PAGE_SIZE;
        int[] table = new int[numPages];
        for (int p = 0; p < numPages; p++) table[p] = firstPage + (MAX_PAGES - 1 - p);
        int n = to - from;
        int[] tokens = Arrays.copyOfRange(ids, from, to);
        int[] positions = new int[n];
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            positions[i] = from + i;
            slots[i] = table[positions[i] / PAGE_SIZE] * PAGE_SIZE + positions[i] % PAGE_SIZE;
        }
        return new ForwardBatch(tokens, positions, slots, new int[] {0, n}, new int[] {to}, new int[][] {table}, logitRows);
    }

    // CudaBackendGpuTest.decode, as it was.
    private static ForwardBatch oldReversedDecode(int[][] ids, int[] prompt, int[] firstPage, int step) {
        int n = ids.length;
        int[] tokens = new int[n];
        int[] positions = new int[n];
        int[] slots = new int[n];
        int[] starts = new int[n + 1];
        int[] lengths = new int[n];
        int[][] tables = new int[n][];
        int[] rows = new int[n];
        for (int s = 0; s < n; s++) {
            int pos = prompt[s] + step;
            tokens[s] = ids[s][pos];
            positions[s] = pos;
            lengths[s] = pos + 1;
            starts[s + 1] = s + 1;
            tables[s] = new int[(pos + PAGE_SIZE) / PAGE_SIZE];
            for (int p = 0; p < tables[s].length; p++) tables[s][p] = firstPage[s] + (MAX_PAGES - 1 - p);
            slots[s] = tables[s][pos / PAGE_SIZE] * PAGE_SIZE + pos % PAGE_SIZE;
            rows[s] = s;
        }
        return new ForwardBatch(tokens, positions, slots, starts, lengths, tables, rows);
    }

    // DecodeBench.batch, as it was.
    private static ForwardBatch oldBenchDecode(int[][] tables, int[] tokens, int context) {
        int numSeqs = tables.length;
        int position = context - 1;
        int[] positions = new int[numSeqs];
        int[] slots = new int[numSeqs];
        int[] starts = new int[numSeqs + 1];
        int[] lengths = new int[numSeqs];
        int[] rows = new int[numSeqs];
        for (int s = 0; s < numSeqs; s++) {
            positions[s] = position;
            slots[s] = tables[s][position / PAGE_SIZE] * PAGE_SIZE + position % PAGE_SIZE;
            starts[s + 1] = s + 1;
            lengths[s] = context;
            rows[s] = s;
        }
        return new ForwardBatch(tokens.clone(), positions, slots, starts, lengths, tables, rows);
    }

    // PrefillTrafficBackendGpuTest.batch, as it was.
    private static ForwardBatch oldMultiSequence(int[][] ids, int[] from, int[] count, int[] firstPage) {
        int n = ids.length;
        int numTokens = 0;
        for (int c : count) numTokens += c;
        int[] tokens = new int[numTokens];
        int[] positions = new int[numTokens];
        int[] slots = new int[numTokens];
        int[] starts = new int[n + 1];
        int[] lengths = new int[n];
        int[][] tables = new int[n][];
        int t = 0;
        for (int s = 0; s < n; s++) {
            lengths[s] = from[s] + count[s];
            tables[s] = new int[(lengths[s] + PAGE_SIZE - 1) / PAGE_SIZE];
            for (int p = 0; p < tables[s].length; p++) tables[s][p] = firstPage[s] + p;
            for (int i = 0; i < count[s]; i++, t++) {
                positions[t] = from[s] + i;
                tokens[t] = ids[s][positions[t]];
                slots[t] = tables[s][positions[t] / PAGE_SIZE] * PAGE_SIZE + positions[t] % PAGE_SIZE;
            }
            starts[s + 1] = t;
        }
        int[] rows = new int[numTokens];
        for (int i = 0; i < numTokens; i++) rows[i] = i;
        return new ForwardBatch(tokens, positions, slots, starts, lengths, tables, rows);
    }

    // LlmEngine.chunkBatch (and GpuVerifier.batch), as it was.
    private static ForwardBatch oldEngineChunk(int[] ids, int start, int end, int[] pages) {
        int n = end - start;
        int[] positions = new int[n];
        int[] slots = new int[n];
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) {
            int pos = start + i;
            positions[i] = pos;
            slots[i] = pages[pos / PAGE_SIZE] * PAGE_SIZE + pos % PAGE_SIZE;
            rows[i] = i;
        }
        int[] blockTable = Arrays.copyOf(pages, (end + PAGE_SIZE - 1) / PAGE_SIZE);
        return new ForwardBatch(Arrays.copyOfRange(ids, start, end), positions, slots, new int[] {0, n},
                new int[] {end}, new int[][] {blockTable}, rows);
    }
}
