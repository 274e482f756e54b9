package io.radixlm.backend;

/**
 * The sampled ids of a step that may still be running on the device ({@link Backend#forwardSampleAsync}).
 * The host reads them when it needs them; meanwhile it can enqueue the next step, which may take
 * these ids as its tokens without the host seeing them first.
 */
public interface PendingIds {
    /**
     * Waits for the step and returns its sampled ids, one per logit row in order; later calls return the
     * same array.
     *
     * @throws IllegalArgumentException when a row's logits were not finite (nothing could be sampled)
     */
    int[] await();

    /** Ids already known: a step that ran to completion before it returned. */
    static PendingIds done(int[] ids) {
        return () -> ids;
    }
}
