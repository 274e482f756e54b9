package io.radixlm.backend;

import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.Sampler;
import io.radixlm.sampling.SamplingParams;

/**
 * The model's forward pass on one kind of hardware. The CPU reference ({@link CpuBackend}) and the
 * CUDA backend compute the same function; the engine talks only to this interface.
 *
 * <p>The backend owns the KV cache storage: {@code numPages} pages of {@code pageSize} token slots for
 * every layer. Which sequence owns which page is the engine's business (block tables, slot mapping).
 */
public interface Backend extends AutoCloseable {

    /** Short name shown to users: "cpu", "cuda". */
    String name();

    ModelConfig config();

    /** Reserves KV storage for numPages pages of pageSize slots; called once, before any forward. */
    void allocateKvCache(int numPages, int pageSize);

    /**
     * The largest number of pages this backend can hold for the given page size within its memory
     * budget (after weights). The engine may allocate fewer.
     */
    int maxKvPages(int pageSize);

    /**
     * Runs the model over the batch: writes K and V of every new token into its slot, attends each new
     * token to positions [0, its position] of its sequence through the block table, and returns the
     * float32 logits of {@code batch.logitRows()}, row after row: (logitRows.length, vocabSize).
     */
    float[] forward(ForwardBatch batch);

    /**
     * Runs the model over the batch as {@link #forward} does and samples one token per logit row, so that
     * a backend that samples where the logits are (the GPU) returns only the ids.
     *
     * @param rowParams how to sample each of {@code batch.logitRows()}, in the same order
     * @param rowSteps  each row's sequence's number of generated tokens so far (the counter of its random draw)
     * @return (logitRows.length) the sampled ids, the {@link Sampler}'s choice for each row
     */
    default int[] forwardSample(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps) {
        int numRows = batch.logitRows().length;
        if (rowParams.length != numRows || rowSteps.length != numRows) {
            throw new IllegalArgumentException("one SamplingParams and one step per logit row: " + numRows + " rows, "
                    + rowParams.length + " params, " + rowSteps.length + " steps");
        }
        float[] logits = forward(batch);
        int vocab = config().vocabSize();
        int[] ids = new int[numRows];
        for (int r = 0; r < numRows; r++) ids[r] = new Sampler(rowParams[r]).sample(logits, r * vocab, vocab, rowSteps[r]);
        return ids;
    }

    /**
     * The token id that stands for "the id the previous step sampled in its logit row {@code row}" in a
     * batch given to {@link #forwardSampleAsync}: -1 - row (real ids are never negative).
     */
    static int fedId(int row) {
        if (row < 0) throw new IllegalArgumentException("negative logit row " + row);
        return -1 - row;
    }

    /**
     * As {@link #forwardSample}, but may return before the step has run: the ids come through
     * {@link PendingIds#await}. A token whose id is {@link #fedId fedId(r)} takes the id that previous
     * sampled in row r; a backend that samples on the GPU hands it over there, so this step is enqueued
     * while previous still runs and the GPU does not wait for the host between the two. This default runs
     * the step to completion, the fed ids read from previous first.
     *
     * @param previous the step whose ids are fed (the last one enqueued, for a backend to hand them over on
     *                 the device); may be null when no token is fed
     */
    default PendingIds forwardSampleAsync(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps,
                                          PendingIds previous) {
        return PendingIds.done(forwardSample(batch.withFedIds(previous), rowParams, rowSteps));
    }

    /**
     * Whether {@link #forwardSampleAsync} returns before the step has run (it is queued on a device), so that an
     * engine gains from enqueueing the next step before it reads this one's ids. False for this default, which runs
     * each step to completion: a step enqueued ahead would only compute rows that a finished sequence drops.
     */
    default boolean runsStepsAhead() {
        return false;
    }

    @Override
    void close();
}
