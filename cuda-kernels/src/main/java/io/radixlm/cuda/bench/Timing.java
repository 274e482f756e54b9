package io.radixlm.cuda.bench;

import io.radixlm.cuda.CudaDevice;

import java.util.Arrays;

/** Median timings: CUDA events for GPU work enqueued on the device's stream, the host clock for whole steps. */
final class Timing {
    private Timing() { }

    /** Median milliseconds of body over reps runs after warmup runs, each timed with CUDA events. */
    static double medianEventMillis(CudaDevice device, int warmup, int reps, Runnable body) {
        for (int i = 0; i < warmup; i++) body.run();
        device.synchronize();
        double[] millis = new double[reps];
        for (int i = 0; i < reps; i++) millis[i] = device.timeMillis(body);
        return median(millis);
    }

    /** Median milliseconds of body (which must wait for the GPU itself) over reps runs after warmup runs. */
    static double medianHostMillis(int warmup, int reps, Runnable body) {
        for (int i = 0; i < warmup; i++) body.run();
        double[] millis = new double[reps];
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            body.run();
            millis[i] = (System.nanoTime() - start) / 1e6;
        }
        return median(millis);
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
