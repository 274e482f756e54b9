package io.radixlm.cuda;

import io.radixlm.cuda.AttentionCase.Seq;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tiled prefill attention kernel (alone, and beside the paged decode kernel in mixed batches as
 * CudaBackend runs them) against the plain softmax(q·kᵀ/√d)·v reference in double over the same bf16
 * cache; outputs start poisoned (NaN), so a row no kernel wrote fails.
 */
@Tag("gpu")
class PrefillAttentionGpuTest {
    private final Random random = new Random();

    private static void assertClose(float[] actual, double[] expected, String what) {
        double error = relativeError(actual, expected);
        System.err.printf("[gpu-test] prefill attention %s: rel. error %.2e%n", what, error);
        assertTrue(error < BF16_TOLERANCE, what + ": attention error " + error);
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, page {3}")
    @CsvSource({"8, 8, 64, 16", "16, 4, 128, 16", "16, 2, 128, 16", "8, 1, 64, 16", "28, 4, 128, 16", "6, 6, 48, 16",
            "4, 2, 32, 16", "12, 3, 96, 16", "16, 4, 64, 8", "8, 2, 128, 32", "8, 8, 64, 1", "8, 4, 64, 24"})
    void wholePromptsOfAwkwardLengthsMatchTheReference(int numHeads, int numKvHeads, int headDim, int pageSize) {
        CudaDevice device = device();
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 15), new Seq(16, 16), new Seq(17, 17), new Seq(300, 300));
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize, seqs);
        // minPrefillLength 1: the single-token prompt goes through the tiled kernel too
        assertClose(c.runPrefill(device, 256, 1), c.reference(), "prompts 1/15/16/17/300, " + numHeads + "/" + numKvHeads + "/" + headDim);
    }

    @ParameterizedTest(name = "prompt of 4097 tokens, heads {0}/{1}, head_dim {2}")
    @CsvSource({"8, 1, 64", "4, 2, 128"})
    void longCausalPromptMatchesTheReference(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, 16, List.of(new Seq(4097, 4097)));
        assertClose(c.runPrefill(device, 256, 2), c.reference(), "4097 tokens, " + numHeads + "/" + numKvHeads + "/" + headDim);
    }

    @ParameterizedTest(name = "chunk after a cached prefix of {0}, heads {1}/{2}, head_dim {3}")
    @CsvSource({"0, 16, 4, 128", "16, 16, 4, 128", "64, 16, 4, 128", "1000, 16, 4, 128", "64, 8, 8, 64", "1000, 8, 1, 64"})
    void chunkedPrefillAfterACachedPrefixMatchesTheReference(int prefix, int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // two chunks' worth: a whole-tile chunk and a ragged one, each after the prefix (and the first chunk)
        List<Seq> seqs = List.of(new Seq(prefix + 128, 128), new Seq(prefix + 77, 77), new Seq(prefix + 2, 2));
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, 16, seqs);
        assertClose(c.runPrefill(device, 256, 2), c.reference(), "prefix " + prefix + ", " + numHeads + "/" + numKvHeads + "/" + headDim);
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, split {3}")
    @CsvSource({"8, 8, 64, 256", "16, 4, 128, 256", "8, 1, 64, 16", "28, 4, 128, 512", "6, 6, 48, 256", "4, 2, 32, 16",
            "12, 3, 96, 128"})
    void mixedBatchOfPrefillAndDecodeMatchesTheReference(int numHeads, int numKvHeads, int headDim, int splitSize) {
        CudaDevice device = device();
        // decodes (paged kernel) between prompts and chunks (tiled kernel), in an order that interleaves them
        List<Seq> seqs = List.of(new Seq(17, 1), new Seq(1, 1), new Seq(15, 15), new Seq(300, 1), new Seq(16, 16),
                new Seq(17, 17), new Seq(300, 236), new Seq(4097, 1), new Seq(1064, 40), new Seq(16, 1), new Seq(2, 2));
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, 16, seqs);
        assertClose(c.runPrefill(device, splitSize, 2), c.reference(), "mixed batch, " + numHeads + "/" + numKvHeads + "/" + headDim);
    }

    @ParameterizedTest(name = "prefix {0}")
    @CsvSource({"64", "37", "1000"})
    void rowsAfterAPrefixHitEqualTheColdPromptBitForBit(int prefix) {
        CudaDevice device = device();
        // Key tiles start at position 0 whatever the query tile, so a row gets the same bits whether its
        // prompt ran cold or only the suffix after a prefix hit (the engine's bitwise promise).
        int length = prefix + 236;
        AttentionCase cold = new AttentionCase(random, 16, 4, 128, 16, List.of(new Seq(length, length)));
        float[] coldOut = cold.runPrefill(device, 256, 2);
        AttentionCase hit = new AttentionCase(random, 16, 4, 128, 16, List.of(new Seq(length, 236)));
        System.arraycopy(cold.kCache, 0, hit.kCache, 0, cold.kCache.length);
        System.arraycopy(cold.vCache, 0, hit.vCache, 0, cold.vCache.length);
        System.arraycopy(cold.blockTables, 0, hit.blockTables, 0, cold.blockTables.length);
        int rowWidth = 16 * 128;
        System.arraycopy(cold.q, prefix * rowWidth, hit.q, 0, 236 * rowWidth);
        float[] hitOut = hit.runPrefill(device, 256, 2);
        assertArrayEquals(Arrays.copyOfRange(coldOut, prefix * rowWidth, length * rowWidth), hitOut);
        assertClose(hitOut, hit.reference(), "prefix hit of " + prefix);
    }

    @ParameterizedTest(name = "prefix of 8100 + {4} new tokens, heads {0}/{1}, head_dim {2}, page {3}")
    @CsvSource({"8, 8, 64, 16, 64", "16, 4, 128, 16, 64", "32, 8, 128, 7, 33", "16, 2, 128, 16, 1", "8, 1, 32, 7, 17",
            "12, 3, 96, 16, 64", "6, 6, 48, 7, 5", "8, 2, 64, 16, 2", "4, 4, 128, 7, 1", "16, 4, 32, 16, 48"})
    void fewNewTokensAfterALongCachedPrefixSplitOverKeys(int numHeads, int numKvHeads, int headDim, int pageSize, int newTokens) {
        CudaDevice device = device();
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize,
                List.of(new Seq(8100 + newTokens, newTokens)));
        String what = "prefix 8100 + " + newTokens + ", " + numHeads + "/" + numKvHeads + "/" + headDim + ", page " + pageSize;
        double[] reference = c.reference();
        // minPrefillLength 1: even a single new token goes through the tiled kernel, as a split
        float[] split = c.runPrefill(device, 256, 1, PrefillAttentionKernel.ROWS_PER_TILE, null);
        assertTrue(c.lastSplit.numSplits() > 1, what + ": expected a split over keys, got " + c.lastSplit);
        assertClose(split, reference, what + ", " + c.lastSplit);
        float[] whole = c.runPrefill(device, 256, 1, PrefillAttentionKernel.ROWS_PER_TILE, PrefillAttentionKernel.Split.NONE);
        assertClose(whole, reference, what + ", no split");
    }

    @ParameterizedTest(name = "{0} splits of {1} key tiles, heads {2}/{3}, head_dim {4}, page {5}, rows {6}")
    @CsvSource({"2, 1, 16, 4, 128, 16, 128", "3, 2, 8, 8, 64, 7, 128", "5, 1, 16, 2, 128, 16, 128",
            "2, 7, 12, 3, 96, 16, 128", "4, 3, 6, 6, 48, 7, 128", "8, 1, 4, 2, 32, 16, 128", "3, 2, 16, 4, 128, 7, 64",
            "2, 4, 8, 1, 64, 16, 64"})
    void severalSequencesWithForcedSplitsMatchTheReference(int numSplits, int splitTiles, int numHeads, int numKvHeads,
                                                           int headDim, int pageSize, int rows) {
        CudaDevice device = device();
        // sequences whose tiles end before, inside and past the splits (the last split takes the rest), decodes
        // beside them (paged kernel), rows of one tile in different splits, and a context of 1
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(1000, 64), new Seq(300, 17), new Seq(500, 1), new Seq(40, 40),
                new Seq(7, 7), new Seq(2100, 3), new Seq(65, 2), new Seq(129, 129));
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize, seqs);
        var split = new PrefillAttentionKernel.Split(numSplits, splitTiles);
        assertClose(c.runPrefill(device, 256, 2, rows, split), c.reference(),
                split + ", " + numHeads + "/" + numKvHeads + "/" + headDim + ", page " + pageSize + ", rows " + rows);
    }

    @ParameterizedTest(name = "small tiles, heads {0}/{1}, head_dim {2}, page {3}")
    @CsvSource({"8, 8, 64, 16", "16, 4, 128, 7", "8, 1, 32, 16", "12, 3, 96, 7", "6, 6, 48, 16", "16, 2, 128, 16"})
    void smallTilesMatchTheReference(int numHeads, int numKvHeads, int headDim, int pageSize) {
        CudaDevice device = device();
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(17, 17), new Seq(300, 300), new Seq(1064, 40), new Seq(33, 1));
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize, seqs);
        assertClose(c.runPrefill(device, 256, 1, PrefillAttentionKernel.SMALL_ROWS_PER_TILE, PrefillAttentionKernel.Split.NONE),
                c.reference(), "small tiles, " + numHeads + "/" + numKvHeads + "/" + headDim + ", page " + pageSize);
    }

    /**
     * The flavors -Dradixlm.prefillVariant selects, in both launch orders, on the awkward cases: contexts of 1
     * and not a multiple of the page (pages shuffled), GQA groups 1/3/4/8 (3: warpgroups whose rows split a token),
     * every head dim (fast64b's own kernel at 128, fast's elsewhere; wgmma's at 128), a long causal prompt (the max of
     * a row moves over many key tiles: the skipped rescale), chunks after a cached prefix, and a forced split over keys.
     */
    @ParameterizedTest(name = "{0}, heads first {1}, heads {2}/{3}, head_dim {4}, page {5}")
    @CsvSource({"BASE, true, 16, 4, 128, 16", "FAST64B, true, 8, 8, 64, 16", "FAST64B, false, 8, 1, 32, 7",
            "FAST64B, true, 12, 3, 96, 16", "FAST64B, false, 6, 6, 48, 7", "FAST64B, true, 16, 2, 64, 1",
            "FAST64B, true, 16, 4, 128, 16", "FAST64B, false, 32, 8, 128, 7", "FAST64B, true, 8, 1, 128, 1",
            "FAST64B, false, 16, 2, 128, 24", "WGMMA, true, 16, 4, 128, 16", "WGMMA, false, 32, 8, 128, 7",
            "WGMMA, true, 8, 8, 128, 1", "WGMMA, false, 16, 2, 128, 24", "WGMMA, true, 12, 4, 128, 7"})
    void everyFlavorAndOrderMatchesTheReference(PrefillAttentionKernel.Flavor flavor, boolean headsFastest, int numHeads,
                                                int numKvHeads, int headDim, int pageSize) {
        CudaDevice device = device();
        assumeRuns(flavor, device);
        var kernel = new PrefillAttentionKernel(device, PrefillAttentionKernel.ROWS_PER_TILE, flavor, headsFastest);
        String what = flavor + (headsFastest ? ", heads first, " : ", tiles first, ") + numHeads + "/" + numKvHeads + "/"
                + headDim + ", page " + pageSize;
        List<Seq> prompts = List.of(new Seq(1, 1), new Seq(15, 15), new Seq(17, 17), new Seq(300, 300),
                new Seq(1000 + 77, 77), new Seq(2100, 1), new Seq(1500, 1500));
        AttentionCase c = new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize, prompts);
        assertClose(c.runPrefill(device, 256, 1, kernel, PrefillAttentionKernel.Split.NONE), c.reference(), what);
        // a forced split (fewer tiles, within the workspace): tiles ending before, inside and past the splits
        var split = new PrefillAttentionKernel.Split(3, 5);
        AttentionCase s = new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize, prompts.subList(0, 6));
        assertClose(s.runPrefill(device, 256, 2, kernel, split), s.reference(), what + ", " + split);
    }

    @ParameterizedTest(name = "{0}, heads first {1}")
    @CsvSource({"FAST64B, false", "WGMMA, true"})
    void everyFlavorKeepsAPrefixHitBitForBitEqualToTheColdPrompt(PrefillAttentionKernel.Flavor flavor, boolean headsFastest) {
        CudaDevice device = device();
        assumeRuns(flavor, device);
        var kernel = new PrefillAttentionKernel(device, PrefillAttentionKernel.ROWS_PER_TILE, flavor, headsFastest);
        int prefix = 1000;
        int length = prefix + 236;
        AttentionCase cold = new AttentionCase(random, 16, 4, 128, 16, List.of(new Seq(length, length)));
        float[] coldOut = cold.runPrefill(device, 256, 2, kernel, PrefillAttentionKernel.Split.NONE);
        AttentionCase hit = new AttentionCase(random, 16, 4, 128, 16, List.of(new Seq(length, 236)));
        System.arraycopy(cold.kCache, 0, hit.kCache, 0, cold.kCache.length);
        System.arraycopy(cold.vCache, 0, hit.vCache, 0, cold.vCache.length);
        System.arraycopy(cold.blockTables, 0, hit.blockTables, 0, cold.blockTables.length);
        int rowWidth = 16 * 128;
        System.arraycopy(cold.q, prefix * rowWidth, hit.q, 0, 236 * rowWidth);
        float[] hitOut = hit.runPrefill(device, 256, 2, kernel, PrefillAttentionKernel.Split.NONE);
        assertArrayEquals(Arrays.copyOfRange(coldOut, prefix * rowWidth, length * rowWidth), hitOut, flavor + " prefix hit");
        assertClose(hitOut, hit.reference(), flavor + " prefix hit of " + prefix);
    }

    /** The warpgroup kernel has machine code for compute capability 9.0 only: elsewhere its cases are skipped, saying why. */
    private static void assumeRuns(PrefillAttentionKernel.Flavor flavor, CudaDevice device) {
        assumeTrue(flavor != PrefillAttentionKernel.Flavor.WGMMA || device.computeCapability() == 90,
                "prefill_attention_wgmma_hd128 runs on compute capability 9.0 only, this GPU has " + device.computeCapability());
    }
}
