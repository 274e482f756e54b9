package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.RopeConfig;

import java.util.Arrays;
import java.util.List;

/**
 * A stand-in model whose next token is a hash of the whole context, read back through the block
 * table from what earlier steps wrote into the paged "KV" slots. Any paging mistake — a wrong slot, a
 * stale or shared page, a page reused while still in use, a prefix hit on the wrong tokens — changes
 * the output or trips a check, so the engine's bookkeeping can be tested without a real model.
 */
final class ContextHashBackend implements Backend {
    static final int VOCAB = 97;
    private final ModelConfig config;
    private int pageSize;
    private int[] slotToken;      // (numPages * pageSize) token written there, -1 = never written
    private int[] slotPosition;   // (numPages * pageSize) position of that token
    int numForwardTokens;         // tokens computed so far (prefix hits make this smaller)

    ContextHashBackend(int maxPositions) {
        this.config = new ModelConfig("llama", 8, 8, 1, 1, 1, 2, VOCAB, maxPositions, 1e-5,
                RopeConfig.defaultRope(10000), false, false, false, 1, List.of(0), "float32");
    }

    /** The token the model emits after the given context. */
    static int next(int[] context, int length) {
        long h = 17;
        for (int i = 0; i < length; i++) h = (h * 1_000_003L + context[i] + 7L * i) % 1_000_000_007L;
        return (int) (h % VOCAB);
    }

    @Override public String name() { return "context-hash"; }

    @Override public ModelConfig config() { return config; }

    @Override
    public void allocateKvCache(int numPages, int pageSize) {
        this.pageSize = pageSize;
        slotToken = new int[numPages * pageSize];
        slotPosition = new int[numPages * pageSize];
        Arrays.fill(slotToken, -1);
    }

    @Override public int maxKvPages(int pageSize) { return 1 << 16; }

    @Override
    public float[] forward(ForwardBatch batch) {
        numForwardTokens += batch.numTokens();
        for (int t = 0; t < batch.numTokens(); t++) {
            slotToken[batch.slotMapping()[t]] = batch.tokenIds()[t];
            slotPosition[batch.slotMapping()[t]] = batch.positions()[t];
        }
        float[] logits = new float[batch.logitRows().length * VOCAB];
        for (int i = 0; i < batch.logitRows().length; i++) {
            int row = batch.logitRows()[i];
            int seq = sequenceOf(batch, row);
            int[] context = readContext(batch.blockTables()[seq], batch.positions()[row] + 1);
            logits[i * VOCAB + next(context, context.length)] = 1f;
        }
        return logits;
    }

    private static int sequenceOf(ForwardBatch batch, int row) {
        int s = 0;
        while (batch.queryStarts()[s + 1] <= row) s++;
        return s;
    }

    private int[] readContext(int[] blockTable, int length) {
        int[] context = new int[length];
        for (int pos = 0; pos < length; pos++) {
            int slot = blockTable[pos / pageSize] * pageSize + pos % pageSize;
            if (slotToken[slot] < 0 || slotPosition[slot] != pos) {
                throw new AssertionError("slot " + slot + " for position " + pos + " holds position "
                        + slotPosition[slot] + " / token " + slotToken[slot]);
            }
            context[pos] = slotToken[slot];
        }
        return context;
    }

    @Override public void close() { }
}
