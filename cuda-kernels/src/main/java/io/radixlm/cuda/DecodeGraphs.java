package io.radixlm.cuda;

import io.radixlm.backend.ForwardBatch;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Captured decode steps, one CUDA graph per batch-size bucket (1, 2, 4, ..., 256), context class (short or not) and
 * block-table width (pages a row, a power of two: StepMetadata.tableStride): a decode batch of n sequences is padded
 * to the smallest bucket ≥ n and replays that bucket's graph. The graphs read their inputs from the step buffers, so
 * they stay valid until those are replaced ({@link #close}).
 */
final class DecodeGraphs implements AutoCloseable {
    static final int MAX_BUCKET = 256;

    private record Key(int bucket, boolean shortContext, int tableStride) { }

    private final Map<Key, CudaGraph> graphs = new HashMap<>();

    /**
     * The bucket for a pure decode batch (one new token per sequence, every token a logit row in
     * order), or 0 when the batch must run eagerly.
     */
    static int bucketFor(ForwardBatch batch) {
        int n = batch.numTokens();
        if (n == 0 || n > MAX_BUCKET || n != batch.numSeqs() || batch.logitRows().length != n) return 0;
        for (int i = 0; i < n; i++) {
            if (batch.logitRows()[i] != i) return 0;
        }
        return Integer.highestOneBit(n) == n ? n : Integer.highestOneBit(n) << 1;
    }

    /**
     * Replays the graph of the bucket, context class and table width, capturing it first with capture when there is
     * none yet. shortContext: no sequence attends more than {@link PagedAttentionKernel#CLUSTER_MAX_KEYS} keys, so that
     * the captured attention may be the kind that only suits short contexts; a batch past it gets its own graph.
     * tableStride: the width of the step's block-table rows, which the captured kernels read as their stride.
     */
    void replay(int bucket, boolean shortContext, int tableStride, Supplier<CudaGraph> capture) {
        graphs.computeIfAbsent(new Key(bucket, shortContext, tableStride), k -> capture.get()).replay();
    }

    /** Graphs captured so far. */
    int size() { return graphs.size(); }

    /** Whether every sequence of batch attends at most {@link PagedAttentionKernel#CLUSTER_MAX_KEYS} keys. */
    static boolean shortContext(ForwardBatch batch) {
        return maxKeys(batch) <= PagedAttentionKernel.CLUSTER_MAX_KEYS;
    }

    /** The most keys a token of batch attends (its position + 1). */
    static int maxKeys(ForwardBatch batch) {
        int most = 0;
        for (int position : batch.positions()) most = Math.max(most, position + 1);
        return most;
    }

    @Override
    public void close() {
        for (CudaGraph graph : graphs.values()) graph.close();
        graphs.clear();
    }
}
