package io.radixlm.cuda;

import io.radixlm.cuda.AttentionCase.Seq;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Timing probe: causal attention of one 8192-token prompt, 32 heads, 8 KV heads, head_dim 128 (Llama-3-8B's
 * shape), tiled prefill kernel vs the paged kernel + reduce it replaces, CUDA events, median of 10 after
 * warm-up. Prints ms and TFLOP/s (4·N²·d·heads / 2 for the causal half); asserts only that both ran.
 */
@Tag("gpu")
@Tag("speed") // timings mean nothing under compute-sanitizer
class PrefillAttentionSpeedGpuTest {
    private static final int N = 8192;
    private static final int HEADS = 32;
    private static final int KV_HEADS = 8;
    private static final int HEAD_DIM = 128;
    private static final int PAGE_SIZE = 16;
    /** H100/H200 SXM dense bf16 tensor-core peak (wgmma); mma.sync reaches only part of it. */
    private static final double PEAK_TFLOPS = 989;

    @Test
    void prefillOf8kTokensAgainstThePagedKernel() {
        CudaDevice device = device();
        AttentionCase c = new AttentionCase(new Random(1), HEADS, KV_HEADS, HEAD_DIM, PAGE_SIZE, List.of(new Seq(N, N)));
        int[] tiles = PrefillAttentionKernel.tiles(c.queryStarts, c.positions, HEADS / KV_HEADS, 2);
        int numTiles = tiles.length / PrefillAttentionKernel.TILE_INTS;
        int splitSize = 2048; // what StepBuffers picks for 8192 tokens × 32 heads under its 512 MB workspace bound
        var layout = c.layout();
        var prefill = new PrefillAttentionKernel(device);
        var paged = new PagedAttentionKernel(device);
        var reduce = new AttentionReduceKernel(device);
        try (AttentionCase.Inputs in = c.new Inputs(device); DeviceMemory tilesGpu = upload(device, tiles);
             AttentionWorkspace workspace = AttentionWorkspace.allocate(device, N, HEADS, HEAD_DIM, splitSize, N, N / splitSize);
             DeviceMemory out = uploadBf16(device, new float[N * HEADS * HEAD_DIM])) {
            float prefillMs = median(device, () -> prefill.launch(in.q, in.k, in.v, in.positions, in.tables, tilesGpu,
                    numTiles, N, 1, layout, out));
            float[] sample = GpuTestSupport.downloadBf16(out, 4096);
            float pagedMs = median(device, () -> {
                var splits = paged.launch(in.q, in.k, in.v, in.positions, in.tokenSeq, in.tables, N, 1, layout, workspace);
                reduce.launch(workspace, splits, in.positions, out, N);
            });
            double flops = 4.0 * N * N * HEAD_DIM * HEADS / 2;
            double tiledTflops = flops / prefillMs / 1e9;
            System.err.printf("[gpu-test] causal prefill attention, %d tokens, %d/%d heads, head_dim %d: tiled %.3f ms "
                            + "(%.1f TFLOP/s, %.0f%% of the %.0f TFLOP/s bf16 peak), paged + reduce %.3f ms (%.1f TFLOP/s), "
                            + "speed-up %.1fx%n",
                    N, HEADS, KV_HEADS, HEAD_DIM, prefillMs, tiledTflops, 100 * tiledTflops / PEAK_TFLOPS, PEAK_TFLOPS,
                    pagedMs, flops / pagedMs / 1e9, pagedMs / prefillMs);
            assertTrue(prefillMs > 0 && pagedMs > 0);
            for (float x : sample) assertTrue(Float.isFinite(x), "prefill output " + x);
        }
    }

    @Test
    void bigAndSmallTilesAt8kAndAPrefixHitWithAndWithoutTheSplit() {
        CudaDevice device = device();
        AttentionCase cold = new AttentionCase(new Random(2), HEADS, KV_HEADS, HEAD_DIM, PAGE_SIZE, List.of(new Seq(N, N)));
        double flops = 4.0 * N * N * HEAD_DIM * HEADS / 2;
        for (int rows : new int[] {PrefillAttentionKernel.SMALL_ROWS_PER_TILE, PrefillAttentionKernel.ROWS_PER_TILE}) {
            float ms = time(device, cold, rows, PrefillAttentionKernel.Split.NONE);
            System.err.printf("[gpu-test] causal prefill attention 8k, %d rows per tile: %.3f ms (%.1f TFLOP/s)%n",
                    rows, ms, flops / ms / 1e9);
        }
        // 64 new tokens after 8128 cached ones: 2 tiles × 8 KV heads without the split
        AttentionCase hit = new AttentionCase(new Random(3), HEADS, KV_HEADS, HEAD_DIM, PAGE_SIZE, List.of(new Seq(N, 64)));
        var kernel = new PrefillAttentionKernel(device);
        var split = kernel.split(hit.tiles(2, PrefillAttentionKernel.ROWS_PER_TILE), hit.positions, KV_HEADS, HEAD_DIM,
                device.numMultiprocessors(), PrefillWorkspace.MAX_STATES, PrefillAttentionKernel.MIN_SPLIT_KEYS);
        float whole = time(device, hit, PrefillAttentionKernel.ROWS_PER_TILE, PrefillAttentionKernel.Split.NONE);
        float splitMs = time(device, hit, PrefillAttentionKernel.ROWS_PER_TILE, split);
        double kvBytes = 2.0 * N * KV_HEADS * HEAD_DIM * 2;
        System.err.printf("[gpu-test] 64 tokens after an 8128-token prefix: no split %.1f µs, %s %.1f µs (%.0f%% of 4.23 TB/s on K/V)%n",
                whole * 1e3, split, splitMs * 1e3, 100 * kvBytes / (splitMs * 1e-3) / 4.23e12);
        assertTrue(whole > 0 && splitMs > 0);
    }

    /** Median ms of the prefill kernel (and reduce) alone over c's tiles, inputs on the device. */
    private static float time(CudaDevice device, AttentionCase c, int rows, PrefillAttentionKernel.Split split) {
        int[] tiles = c.tiles(2, rows);
        int numTiles = tiles.length / PrefillAttentionKernel.TILE_INTS;
        var kernel = new PrefillAttentionKernel(device, rows);
        try (AttentionCase.Inputs in = c.new Inputs(device); DeviceMemory tilesGpu = upload(device, tiles);
             PrefillWorkspace splits = PrefillWorkspace.allocate(device, PrefillWorkspace.MAX_STATES, HEAD_DIM);
             DeviceMemory out = uploadBf16(device, new float[c.numTokens * HEADS * HEAD_DIM])) {
            return median(device, () -> kernel.launch(in.q, in.k, in.v, in.positions, in.tables, tilesGpu, numTiles,
                    c.numTokens, 1, c.layout(), split, splits, out));
        }
    }

    private static float median(CudaDevice device, Runnable body) {
        for (int i = 0; i < 3; i++) body.run();
        device.synchronize();
        float[] times = new float[10];
        for (int i = 0; i < times.length; i++) times[i] = device.timeMillis(body);
        Arrays.sort(times);
        return times[times.length / 2];
    }
}
