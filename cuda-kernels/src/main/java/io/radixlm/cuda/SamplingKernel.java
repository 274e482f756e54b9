package io.radixlm.cuda;

import io.radixlm.sampling.Sampler;
import io.radixlm.sampling.SamplingParams;

/**
 * sample_rows (sampling.cu): out (numRows) int = the token {@link Sampler} draws from each row of logits
 * (numRows, vocab) f32 with that row's parameters and step, or -1 for a row with a non-finite logit.
 */
public final class SamplingKernel {
    /** int64 entries per row of the parameter buffer: temperature, top-p, min-p (f64 bits), seed, step, top-k, 2 unused. */
    public static final int PARAMS_PER_ROW = 8;
    private static final int THREADS = 512; // SAMPLE_THREADS in sampling.cu

    private final CudaDevice device;

    public SamplingKernel(CudaDevice device) { this.device = device; }

    public void launch(DeviceMemory logits, DeviceMemory rowParams, DeviceMemory out, int numRows, int vocab) {
        if (vocab < 1 || vocab > Sampler.MAX_VOCAB) {
            throw new IllegalArgumentException("the sampling kernel supports vocabularies up to " + Sampler.MAX_VOCAB + ", got " + vocab);
        }
        logits.requireElements((long) numRows * vocab, 4, "sampling logits");
        rowParams.requireElements((long) numRows * PARAMS_PER_ROW, 8, "sampling params");
        out.requireElements(numRows, 4, "sampling out");
        device.launch("sample_rows", Dim3.of(numRows), Dim3.of(THREADS), 0,
                new KernelArgs().ptr(logits).ptr(rowParams).ptr(out).i32(vocab));
    }

    /** {@link #pack} as ints, two per entry (low word first: the GPU's little-endian int64), for a staged upload. */
    public static int[] packInts(SamplingParams[] params, int[] steps) {
        long[] packed = pack(params, steps);
        int[] ints = new int[2 * packed.length];
        for (int i = 0; i < packed.length; i++) {
            ints[2 * i] = (int) packed[i];
            ints[2 * i + 1] = (int) (packed[i] >>> 32);
        }
        return ints;
    }

    /** The parameter buffer's contents (numRows, PARAMS_PER_ROW) for rows sampled with params[r] at step steps[r]. */
    public static long[] pack(SamplingParams[] params, int[] steps) {
        if (params.length != steps.length) throw new IllegalArgumentException("one step per row");
        long[] packed = new long[params.length * PARAMS_PER_ROW];
        for (int r = 0; r < params.length; r++) {
            int base = r * PARAMS_PER_ROW;
            packed[base] = Double.doubleToRawLongBits(params[r].temperature());
            packed[base + 1] = Double.doubleToRawLongBits(params[r].topP());
            packed[base + 2] = Double.doubleToRawLongBits(params[r].minP());
            packed[base + 3] = params[r].seed();
            packed[base + 4] = steps[r];
            packed[base + 5] = params[r].topK();
        }
        return packed;
    }
}
