package io.radixlm.cuda;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * prefill_attention_hd{32,48,64,96,128}: causal attention of the new tokens of sequences that bring
 * several at once (a prompt or a prefill chunk), tiled FlashAttention-2 style: one CTA per (tile of query
 * tokens of one sequence, KV head) streams that sequence's K/V pages once for all the tile's rows, on
 * the tensor cores. Unlike {@link PagedAttentionKernel} it needs no workspace and no reduce pass: it
 * writes out (numTokens, numHeads, headDim) bf16 directly, for the tokens its tiles name.
 *
 * <p>Tiles come from {@link #tiles}: (numTiles, 4) ints {seq, firstToken, numTokens, 0}.
 */
public final class PrefillAttentionKernel {
    /** (token, head) rows per CTA: PF_WARPS · 16 in prefill_attention.cu. */
    public static final int ROWS_PER_TILE = 64;
    private static final int THREADS = 128;
    /** ints per entry of the tile list. */
    public static final int TILE_INTS = 4;
    private final CudaDevice device;

    public PrefillAttentionKernel(CudaDevice device) { this.device = device; }

    /** Query tokens per tile: all query heads of a GQA group of each token share the tile's 64 rows. */
    public static int tokensPerTile(int group) {
        if (group < 1 || group > ROWS_PER_TILE) throw new IllegalArgumentException("bad GQA group " + group);
        return ROWS_PER_TILE / group;
    }

    /**
     * The tile list for the sequences with at least minQueryLength new tokens, the tiles with the most
     * keys first (the long ones start early, short ones fill the gaps at the end).
     *
     * @param queryStarts (numSeqs + 1) as in ForwardBatch
     * @param positions   (numTokens) absolute positions; ascending within a sequence
     * @return (numTiles, TILE_INTS) flattened
     */
    public static int[] tiles(int[] queryStarts, int[] positions, int group, int minQueryLength) {
        int perTile = tokensPerTile(group);
        List<int[]> tiles = new ArrayList<>();
        for (int s = 0; s + 1 < queryStarts.length; s++) {
            int end = queryStarts[s + 1];
            if (end - queryStarts[s] < Math.max(1, minQueryLength)) continue;
            for (int first = queryStarts[s]; first < end; first += perTile) {
                tiles.add(new int[] {s, first, Math.min(perTile, end - first), 0});
            }
        }
        tiles.sort(Comparator.comparingInt((int[] t) -> -positions[t[1] + t[2] - 1]));
        int[] flat = new int[tiles.size() * TILE_INTS];
        for (int i = 0; i < tiles.size(); i++) System.arraycopy(tiles.get(i), 0, flat, i * TILE_INTS, TILE_INTS);
        return flat;
    }

    /**
     * Enqueues the kernel for numTiles tiles (already in the tiles buffer).
     *
     * @param q           (numTokens, numHeads, headDim) f32 after RoPE
     * @param kCache      (numPages · pageSize, numKvHeads, headDim) bf16, the new tokens' K/V already written
     * @param positions   (numTokens) int
     * @param blockTables (numSeqs, maxPagesPerSeq) int
     * @param tiles       (numTiles, TILE_INTS) int from {@link #tiles}
     * @param out         (numTokens, numHeads, headDim) bf16; rows of tokens outside the tiles are left alone
     */
    public void launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                       DeviceMemory blockTables, DeviceMemory tiles, int numTiles, int numTokens, int numSeqs,
                       PagedAttentionKernel.Layout layout, DeviceMemory out) {
        if (numTiles <= 0) return;
        q.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 4, "prefill attention q");
        long cacheElements = (long) layout.numPages() * layout.pageSize() * layout.numKvHeads() * layout.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        positions.requireElements(numTokens, 4, "positions");
        blockTables.requireElements((long) numSeqs * layout.maxPagesPerSeq(), 4, "blockTables");
        tiles.requireElements((long) numTiles * TILE_INTS, 4, "prefill tiles");
        out.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 2, "prefill attention out");
        // scores go to exp2 directly: 1/sqrt(d) and log2(e) in one factor
        float scaleLog2 = (float) (1.0 / Math.sqrt(layout.headDim()) / Math.log(2.0));
        device.launch("prefill_attention_hd" + layout.headDim(), Dim3.of(numTiles, layout.numKvHeads()),
                Dim3.of(THREADS), 0,
                new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(blockTables).ptr(tiles)
                        .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(layout.numHeads())
                        .i32(layout.numKvHeads()).f32(scaleLog2).ptr(out));
    }
}
