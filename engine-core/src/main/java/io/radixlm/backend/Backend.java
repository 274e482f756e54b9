package io.radixlm.backend;

import io.radixlm.model.ModelConfig;

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

    @Override
    void close();
}
