package io.radixlm.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * How far ahead the first wave of a GEMV asks L2 for weights before its inputs are ready (prefetchLaterWaves in
 * gemv.cu): the launch arguments (resident, prefetchWaves) of every gemv kernel. Under programmatic dependent
 * launch that wave is resident while the kernels before it still run; when those leave HBM idle (the decode
 * attention and its reduce before o_proj) the prefetched rows arrive for free. The budget caps the bytes asked
 * for per launch, so that they stay in L2 (50 MB on an H100/H200) until read: -Dradixlm.gemv.prefetchMB
 * (0 turns it off).
 */
final class GemvPrefetch {
    static final long DEFAULT_BUDGET_BYTES = Long.getLong("radixlm.gemv.prefetchMB", 24) << 20;
    private final CudaDevice device;
    private final long budgetBytes;
    private final Map<String, Integer> resident = new HashMap<>();

    GemvPrefetch(CudaDevice device) { this(device, DEFAULT_BUDGET_BYTES); }

    GemvPrefetch(CudaDevice device, long budgetBytes) {
        if (budgetBytes < 0) throw new IllegalArgumentException("prefetch budget must not be negative: " + budgetBytes);
        this.device = device;
        this.budgetBytes = budgetBytes;
    }

    /** The two trailing kernel arguments of kernel over numBlocks CTAs of blockThreads, each reading bytesPerBlock. */
    KernelArgs append(KernelArgs args, String kernel, int blockThreads, int numBlocks, long bytesPerBlock) {
        int wave = resident.computeIfAbsent(kernel,
                k -> device.maxResidentBlocks(k, blockThreads, 0) * device.numMultiprocessors());
        return args.i32(wave).i32(waves(numBlocks, wave, bytesPerBlock, budgetBytes));
    }

    /**
     * Whole waves after the first (of wave CTAs each, numBlocks in all) whose rows, bytesPerBlock per CTA, fit
     * budgetBytes; 0 when not even one does.
     */
    static int waves(int numBlocks, int wave, long bytesPerBlock, long budgetBytes) {
        if (numBlocks < 1 || wave < 1 || bytesPerBlock < 1) throw new IllegalArgumentException("empty launch");
        long laterWaves = (numBlocks - 1L) / wave;
        return (int) Math.min(laterWaves, budgetBytes / (wave * bytesPerBlock));
    }
}
