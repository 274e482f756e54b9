package io.radixlm.cuda;

import io.radixlm.backend.ForwardBatch;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The host side of the prefill kernel (no GPU needed): tiling and the split of a step between the two attention kernels. */
class PrefillTilesTest {

    @Test
    void tilesCoverEveryPrefillTokenOnceAndNoDecodeToken() {
        int[] queryStarts = {0, 1, 101, 102, 302};  // a decode, a 100-token chunk, a decode, a 200-token prompt
        int[] positions = new int[302];
        for (int t = 0; t < 302; t++) positions[t] = t;
        for (int group : new int[] {1, 3, 4, 7, 8}) {
            int[] tiles = PrefillAttentionKernel.tiles(queryStarts, positions, group, 2);
            int[] covered = new int[302];
            List<Integer> lastPositions = new ArrayList<>();
            for (int i = 0; i < tiles.length; i += PrefillAttentionKernel.TILE_INTS) {
                int seq = tiles[i];
                int first = tiles[i + 1];
                int count = tiles[i + 2];
                assertTrue(count >= 1 && count * group <= PrefillAttentionKernel.ROWS_PER_TILE, "tile rows " + count);
                assertTrue(first >= queryStarts[seq] && first + count <= queryStarts[seq + 1], "tile inside its sequence");
                for (int t = first; t < first + count; t++) covered[t]++;
                lastPositions.add(positions[first + count - 1]);
            }
            for (int t = 0; t < 302; t++) {
                boolean prefill = (t >= 1 && t < 101) || (t >= 102 && t < 302);
                assertEquals(prefill ? 1 : 0, covered[t], "token " + t + ", group " + group);
            }
            for (int i = 1; i < lastPositions.size(); i++) {
                assertTrue(lastPositions.get(i - 1) >= lastPositions.get(i), "longest tiles first");
            }
        }
    }

    @Test
    void aMixedStepSendsMultiTokenSequencesToThePrefillKernelAndTheRestToDecode() {
        // seq 0 decodes at position 20, seq 1 prefills 3 tokens after a 16-token prefix, seq 2 decodes
        ForwardBatch batch = new ForwardBatch(new int[] {5, 6, 7, 8, 9}, new int[] {20, 16, 17, 18, 3},
                new int[] {40, 80, 81, 82, 99}, new int[] {0, 1, 4, 5}, new int[] {21, 19, 4},
                new int[][] {{2, 3}, {4, 5}, {6}}, new int[] {0, 3, 4});
        StepMetadata on = StepMetadata.of(batch, 2, 4, true);
        assertArrayEquals(new int[] {0, 1, 1, 1, 0}, on.prefillToken());
        assertArrayEquals(new int[] {1, 1, 3, 0}, on.prefillTiles());
        assertEquals(1, on.numPrefillTiles());
        assertEquals(2, on.numDecodeTokens());
        StepMetadata off = StepMetadata.of(batch, 2, 4, false);
        assertEquals(0, off.numPrefillTiles());
        assertEquals(5, off.numDecodeTokens());
    }

    @Test
    void aFewTilesOverALongPrefixSplitTheirKeysAndManyTilesDoNot() {
        var kernel = new PrefillAttentionKernel(null, PrefillAttentionKernel.ROWS_PER_TILE, PrefillAttentionKernel.Flavor.BASE, true);
        int[] positions = new int[64];
        for (int t = 0; t < 64; t++) positions[t] = 8128 + t;
        int[] tiles = PrefillAttentionKernel.tiles(new int[] {0, 64}, positions, 4, 2, PrefillAttentionKernel.ROWS_PER_TILE);
        assertEquals(2, tiles.length / PrefillAttentionKernel.TILE_INTS);
        // 8192 keys in 32-key tiles at head_dim 128: 256 key tiles; 16 CTAs want about 264 / 16 → 17 splits
        PrefillAttentionKernel.Split split = kernel.split(tiles, positions, 8, 128, 132, PrefillWorkspace.MAX_STATES,
                PrefillAttentionKernel.MIN_SPLIT_KEYS);
        assertTrue(split.numSplits() > 1 && split.numSplits() * split.splitTiles() >= 256, split.toString());
        assertTrue(split.splitTiles() * 32 >= PrefillAttentionKernel.MIN_SPLIT_KEYS, split.toString());
        assertTrue(16L * split.numSplits() * PrefillAttentionKernel.ROWS_PER_TILE <= PrefillWorkspace.MAX_STATES);
        // the same tiles with 132 KV heads fill the GPU already; and few keys never split
        assertEquals(PrefillAttentionKernel.Split.NONE, kernel.split(tiles, positions, 66, 128, 132,
                PrefillWorkspace.MAX_STATES, PrefillAttentionKernel.MIN_SPLIT_KEYS));
        // fast64b counts in 64-key tiles: 128 of them, still split, each split at least MIN_SPLIT_KEYS keys
        var fast64 = new PrefillAttentionKernel(null, PrefillAttentionKernel.ROWS_PER_TILE, PrefillAttentionKernel.Flavor.FAST64B, true);
        PrefillAttentionKernel.Split split64 = fast64.split(tiles, positions, 8, 128, 132, PrefillWorkspace.MAX_STATES,
                PrefillAttentionKernel.MIN_SPLIT_KEYS);
        assertTrue(split64.numSplits() > 1 && split64.numSplits() * split64.splitTiles() >= 128, split64.toString());
        assertTrue(split64.splitTiles() * 64 >= PrefillAttentionKernel.MIN_SPLIT_KEYS, split64.toString());
        assertTrue(16L * split64.numSplits() <= 2 * 132, "two fast64b CTAs a multiprocessor, one wave: " + split64);
        // the wgmma kernel (128-key tiles, 64 of them) runs one CTA a multiprocessor: 8 splits of 8 tiles, 128 CTAs in
        // one wave, not 16 of 4 in two
        var wgmma = new PrefillAttentionKernel(null, PrefillAttentionKernel.ROWS_PER_TILE, PrefillAttentionKernel.Flavor.WGMMA, true);
        assertEquals(new PrefillAttentionKernel.Split(8, 8), wgmma.split(tiles, positions, 8, 128, 132,
                PrefillWorkspace.MAX_STATES, PrefillAttentionKernel.MIN_SPLIT_KEYS));
        int[] shortPositions = new int[64];
        for (int t = 0; t < 64; t++) shortPositions[t] = 900 + t;
        assertEquals(PrefillAttentionKernel.Split.NONE, kernel.split(tiles, shortPositions, 8, 128, 132,
                PrefillWorkspace.MAX_STATES, PrefillAttentionKernel.MIN_SPLIT_KEYS));
    }

    @Test
    void everyFlavorNamesAKernelOfTheBuildWithItsKeyTileAndSharedMemory() {
        // head_dim 128: fast64b takes 2 · 2 · 64 · 136 + 128 · 136 bf16 (104 KB, two CTAs per SM), base 32-key tiles
        assertVariant(PrefillAttentionKernel.Flavor.FAST64B, "prefill_attention_fast64b_hd128", 64);
        assertVariant(PrefillAttentionKernel.Flavor.BASE, "prefill_attention_hd128", 32);
        // other head dims: fast64b runs fast's kernel, base its own
        assertEquals("prefill_attention_fast_hd96", PrefillAttentionKernel.Variant.of(96, PrefillAttentionKernel.ROWS_PER_TILE,
                PrefillAttentionKernel.Flavor.FAST64B).name());
        assertEquals("prefill_attention_hd96", PrefillAttentionKernel.Variant.of(96, PrefillAttentionKernel.ROWS_PER_TILE,
                PrefillAttentionKernel.Flavor.BASE).name());
        assertEquals("prefill_attention_small_hd128", PrefillAttentionKernel.Variant.of(128,
                PrefillAttentionKernel.SMALL_ROWS_PER_TILE, PrefillAttentionKernel.Flavor.FAST64B).name());
        // wgmma: 128-key tiles of two warpgroups, unpadded rows in three stages plus 1 KB to align them; fast64b's
        // kernels at other head dims and for the small tiles
        var wgmma = PrefillAttentionKernel.Variant.of(128, PrefillAttentionKernel.ROWS_PER_TILE,
                PrefillAttentionKernel.Flavor.WGMMA);
        assertEquals("prefill_attention_wgmma_hd128", wgmma.name());
        assertEquals(128, wgmma.keysPerTile());
        assertEquals(256, wgmma.threads());
        assertEquals(2 * 2 * 3 * 128 * 128 + 1024, wgmma.sharedBytes());
        assertEquals("prefill_attention_fast_hd64", PrefillAttentionKernel.Variant.of(64, PrefillAttentionKernel.ROWS_PER_TILE,
                PrefillAttentionKernel.Flavor.WGMMA).name());
        assertEquals("prefill_attention_small_hd128", PrefillAttentionKernel.Variant.of(128,
                PrefillAttentionKernel.SMALL_ROWS_PER_TILE, PrefillAttentionKernel.Flavor.WGMMA).name());
        assertThrows(IllegalArgumentException.class, () -> PrefillAttentionKernel.Variant.of(128,
                PrefillAttentionKernel.ROWS_PER_TILE, PrefillAttentionKernel.Flavor.AUTO));
    }

    @Test
    void autoRunsTheWarpgroupKernelOnlyOnComputeCapabilityNine() {
        assertEquals(PrefillAttentionKernel.Flavor.WGMMA, PrefillAttentionKernel.Flavor.AUTO.on(90));
        assertEquals(PrefillAttentionKernel.Flavor.FAST64B, PrefillAttentionKernel.Flavor.AUTO.on(89));
        assertEquals(PrefillAttentionKernel.Flavor.FAST64B, PrefillAttentionKernel.Flavor.AUTO.on(100));
        assertEquals(PrefillAttentionKernel.Flavor.BASE, PrefillAttentionKernel.Flavor.BASE.on(80));
        var e = assertThrows(IllegalArgumentException.class, () -> PrefillAttentionKernel.Flavor.WGMMA.on(80));
        assertTrue(e.getMessage().contains("9.0") && e.getMessage().contains("8.0"), e.getMessage());
    }

    /** The big-tile kernel of flavor at head_dim 128: two stages of K and V (keys, 136) plus Q (128, 136), bf16. */
    private static void assertVariant(PrefillAttentionKernel.Flavor flavor, String name, int keysPerTile) {
        var v = PrefillAttentionKernel.Variant.of(128, PrefillAttentionKernel.ROWS_PER_TILE, flavor);
        assertEquals(name, v.name());
        assertEquals(keysPerTile, v.keysPerTile());
        assertEquals(2 * (2 * 2 * keysPerTile * 136 + 128 * 136), v.sharedBytes());
    }

    @Test
    void theVariantPropertyTakesTheFlavorsAndNamesThemForAnythingElse() {
        assertEquals(PrefillAttentionKernel.Flavor.BASE, PrefillAttentionKernel.Flavor.parse(" base"));
        assertEquals(PrefillAttentionKernel.Flavor.FAST64B, PrefillAttentionKernel.Flavor.parse("FAST64b "));
        assertEquals(PrefillAttentionKernel.Flavor.WGMMA, PrefillAttentionKernel.Flavor.parse("wgmma"));
        assertEquals(PrefillAttentionKernel.Flavor.AUTO, PrefillAttentionKernel.Flavor.parse("Auto"));
        var e = assertThrows(IllegalArgumentException.class, () -> PrefillAttentionKernel.Flavor.parse("fast64h"));
        assertTrue(e.getMessage().contains("base, fast64b or wgmma") && e.getMessage().contains("fast64h"), e.getMessage());
    }
}
