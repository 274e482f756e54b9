package io.radixlm.cuda;

/**
 * argmax_partial + argmax_final: out (numRows) int = index of each row's maximum in logits (numRows, vocab)
 * f32, lowest on ties, or -1 for a row holding a NaN or an infinity. A row is split into chunks reduced by
 * separate CTAs (a 150k-entry row read by one CTA took 0.18 ms, a third of a 1B model's decode step).
 */
public final class ArgmaxKernel {
    private static final int THREADS = 256;        // ARGMAX_THREADS in argmax.cu
    /** Chunks a row is split into, at most; also the partials per row the scratch buffer must hold. */
    public static final int MAX_CHUNKS = 64;
    private static final int MIN_CHUNK = 2048;     // elements: 8 per thread, so a CTA is worth its launch

    private final CudaDevice device;

    public ArgmaxKernel(CudaDevice device) { this.device = device; }

    /** Bytes of scratch (partials) for rows of up to numRows. */
    public static long scratchBytes(int numRows) { return 8L * numRows * MAX_CHUNKS; }

    /**
     * @param scratch at least {@link #scratchBytes}(numRows); written and read by the two passes
     */
    public void launch(DeviceMemory logits, DeviceMemory out, DeviceMemory scratch, int numRows, int vocab) {
        logits.requireElements((long) numRows * vocab, 4, "argmax logits");
        out.requireElements(numRows, 4, "argmax out");
        if (scratch.bytes() < scratchBytes(numRows)) throw new IllegalArgumentException("argmax scratch too small");
        int numChunks = numChunks(vocab);
        int chunk = (vocab + numChunks - 1) / numChunks;
        device.launch("argmax_partial", Dim3.of(numRows, numChunks), Dim3.of(THREADS), 0,
                new KernelArgs().ptr(logits).ptr(scratch).i32(vocab).i32(chunk));
        device.launch("argmax_final", Dim3.of(numRows), Dim3.of(32), 0,
                new KernelArgs().ptr(scratch).i32(numChunks).ptr(out));
    }

    static int numChunks(int vocab) {
        return Math.max(1, Math.min(MAX_CHUNKS, (vocab + MIN_CHUNK - 1) / MIN_CHUNK));
    }
}
