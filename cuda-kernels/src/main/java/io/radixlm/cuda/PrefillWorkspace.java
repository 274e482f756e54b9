package io.radixlm.cuda;

/**
 * Split softmax states between prefill_attention_* (split over keys) and prefill_attention_reduce, one per
 * (tile, KV head, split, row of the tile): sized by CTAs, not tokens, because only launches of few CTAs split.
 *
 * @param partMax (maxStates) f32, running max in log2 units
 * @param partSum (maxStates) f32
 * @param partAcc (maxStates, headDim) f32, unnormalised
 */
public record PrefillWorkspace(DeviceMemory partMax, DeviceMemory partSum, DeviceMemory partAcc, int maxStates,
                               int headDim) implements AutoCloseable {
    /** Enough for 512 CTAs of 128 rows (34 MB at head_dim 128): about two waves of two CTAs per SM on an H200. */
    public static final int MAX_STATES = 512 * PrefillAttentionKernel.ROWS_PER_TILE;

    public PrefillWorkspace {
        if (maxStates < 1 || headDim < 1) throw new IllegalArgumentException("bad prefill workspace " + maxStates + ", " + headDim);
    }

    public static PrefillWorkspace allocate(CudaDevice device, int maxStates, int headDim) {
        return new PrefillWorkspace(device.allocate(4L * maxStates), device.allocate(4L * maxStates),
                device.allocate(4L * maxStates * headDim), maxStates, headDim);
    }

    @Override
    public void close() {
        partMax.close();
        partSum.close();
        partAcc.close();
    }
}
