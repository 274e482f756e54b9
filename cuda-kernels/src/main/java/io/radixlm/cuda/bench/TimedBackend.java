package io.radixlm.cuda.bench;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.SamplingParams;

/**
 * A backend that counts the host time spent inside its forward calls, so that a request's TTFT can be
 * split into the steps themselves (enqueue, GPU, copies back) and the engine around them (scheduler,
 * radix cache, sampling bookkeeping).
 */
final class TimedBackend implements Backend {
    private final Backend inner;
    private long nanos;
    private int calls;

    TimedBackend(Backend inner) { this.inner = inner; }

    /** Milliseconds spent in forward / forwardSample since the last reset. */
    double millis() { return nanos / 1e6; }

    /** Forward calls since the last reset. */
    int calls() { return calls; }

    void reset() {
        nanos = 0;
        calls = 0;
    }

    @Override
    public String name() { return inner.name(); }

    @Override
    public ModelConfig config() { return inner.config(); }

    @Override
    public void allocateKvCache(int numPages, int pageSize) { inner.allocateKvCache(numPages, pageSize); }

    @Override
    public int maxKvPages(int pageSize) { return inner.maxKvPages(pageSize); }

    @Override
    public float[] forward(ForwardBatch batch) {
        long start = System.nanoTime();
        try {
            return inner.forward(batch);
        } finally {
            count(start);
        }
    }

    @Override
    public int[] forwardSample(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps) {
        long start = System.nanoTime();
        try {
            return inner.forwardSample(batch, rowParams, rowSteps);
        } finally {
            count(start);
        }
    }

    private void count(long start) {
        nanos += System.nanoTime() - start;
        calls++;
    }

    @Override
    public void close() { inner.close(); }
}
