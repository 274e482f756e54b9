package io.radixlm.cuda;

import io.radixlm.cuda.AttentionCase.Seq;
import io.radixlm.cuda.PagedAttentionKernel.Variant;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Paged attention + reduce (the streaming kernel, and the V1 kernel kept for A/B) against a plain
 * softmax(q·kᵀ/√d)·v over the same bf16 cache, pages scattered at random through the pool: decode at
 * awkward and long contexts for every head dim and GQA group, page sizes that are not 16, every split
 * count, batches mixing prefill and decode, and one captured CUDA graph replayed as contexts change.
 * Failures name the token (its sequence and position) whose row is wrong.
 */
@Tag("gpu")
class PagedAttentionGpuTest {
    private static final int PAGE_SIZE = 16;
    private static final int[] CONTEXTS = {1, 15, 16, 17, 1000, 5000, 32768};
    private final Random random = new Random();

    private AttentionCase newCase(int numHeads, int numKvHeads, int headDim, int pageSize, List<Seq> seqs) {
        return new AttentionCase(random, numHeads, numKvHeads, headDim, pageSize, seqs);
    }

    /** Fails naming every token whose row (all heads) is off, with its context, or the whole output's error. */
    private static void assertRowsClose(AttentionCase c, float[] actual, double[] expected, String what) {
        int row = c.numHeads * c.headDim;
        List<String> bad = new ArrayList<>();
        for (int t = 0; t < c.numTokens; t++) {
            double error = relativeError(Arrays.copyOfRange(actual, t * row, (t + 1) * row),
                    Arrays.copyOfRange(expected, t * row, (t + 1) * row));
            if (!(error < BF16_TOLERANCE)) bad.add("token " + t + " (seq " + c.tokenSeq[t] + ", " + (c.positions[t] + 1) + " keys): " + error);
        }
        double total = relativeError(actual, expected);
        assertTrue(bad.isEmpty() && total < BF16_TOLERANCE, what + ": error " + total + "; " + bad);
    }

    private static List<Seq> decodes(int... contexts) {
        return Arrays.stream(contexts).mapToObj(n -> new Seq(n, 1)).toList();
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, page size {3}")
    @CsvSource({"8, 8, 32, 16", "16, 2, 32, 16", "6, 6, 48, 16", "8, 2, 48, 16", "32, 8, 64, 16", "16, 2, 96, 16",
            "12, 3, 96, 16", "32, 8, 128, 16", "32, 32, 128, 16", "8, 1, 128, 16", "28, 4, 128, 16", "24, 4, 64, 16",
            "16, 4, 64, 1", "16, 4, 128, 5", "8, 1, 48, 32"})
    void streamingDecodeAtEveryContextMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim, int pageSize) {
        CudaDevice device = device();
        String shape = numHeads + "/" + numKvHeads + " heads, head_dim " + headDim + ", page size " + pageSize;
        // all contexts in one batch (few splits each), then each alone (as many splits as the GPU's size allows)
        AttentionCase batch = newCase(numHeads, numKvHeads, headDim, pageSize, decodes(CONTEXTS));
        assertRowsClose(batch, batch.runPaged(device, Variant.STREAMING, 256), batch.reference(), "batch, " + shape);
        for (int context : CONTEXTS) {
            AttentionCase alone = newCase(numHeads, numKvHeads, headDim, pageSize, decodes(context));
            assertRowsClose(alone, alone.runPaged(device, Variant.STREAMING, 256), alone.reference(),
                    "context " + context + " alone, " + shape);
        }
    }

    @ParameterizedTest(name = "{0} splits")
    @ValueSource(ints = {1, 2, 3, 7, 64, 255, 256})
    void streamingKernelIsRightAtAnySplitCount(int numSplits) {
        CudaDevice device = device();
        // decodes of awkward lengths plus three tokens of one prompt (the paged kernel serves those too when
        // the prefill kernel is off); more splits than a short context has chunks leave empty splits behind
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 1), new Seq(17, 1), new Seq(1000, 1), new Seq(5000, 1),
                new Seq(300, 3));
        for (int[] shape : new int[][] {{16, 4, 128}, {8, 1, 64}, {6, 6, 48}, {28, 4, 96}, {16, 2, 32}}) {
            AttentionCase c = newCase(shape[0], shape[1], shape[2], PAGE_SIZE, seqs);
            assertRowsClose(c, c.runPaged(device, Variant.STREAMING, 256, numSplits), c.reference(),
                    numSplits + " splits, heads " + shape[0] + "/" + shape[1] + ", head_dim " + shape[2]);
        }
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, split {3}")
    @CsvSource({"8, 8, 64, 256", "16, 4, 128, 256", "32, 4, 128, 64", "8, 1, 64, 16", "28, 4, 128, 512", "32, 32, 128, 256",
            "6, 6, 48, 256", "4, 2, 32, 16", "12, 3, 96, 128"})
    void mixedBatchOfPrefillAndDecodeMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim, int splitSize) {
        CudaDevice device = device();
        // prefills of awkward lengths (whole prompt new), a prefix hit (only the suffix new), decodes up to 4097
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 15), new Seq(16, 16), new Seq(17, 17),
                new Seq(300, 236), new Seq(17, 1), new Seq(300, 1), new Seq(4097, 1), new Seq(16, 1));
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, seqs);
        double[] reference = c.reference();
        for (Variant variant : Variant.values()) {
            assertRowsClose(c, c.runPaged(device, variant, splitSize), reference, variant.toString());
        }
    }

    @ParameterizedTest(name = "prefill of 4097 tokens, heads {0}/{1}, head_dim {2}")
    @CsvSource({"8, 1, 64", "4, 4, 128"})
    void longCausalPrefillMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, List.of(new Seq(4097, 4097)));
        double[] reference = c.reference();
        for (Variant variant : Variant.values()) {
            double error = relativeError(c.runPaged(device, variant, 256), reference);
            assertTrue(error < BF16_TOLERANCE, variant + ": attention error " + error);
        }
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"32, 8, 128", "8, 1, 64", "12, 3, 96", "28, 4, 128"})
    void oneCapturedGraphStaysRightAsContextsChange(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // pages for contexts up to 5000 / 17 / 1000; the graph is captured once, then replayed with positions
        // that change the number of keys, and of splits holding keys, in every sequence
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(5000, 17, 1000));
        int[][] positionSets = {{4999, 16, 999}, {0, 0, 0}, {15, 16, 17}, {16, 1, 998}, {2047, 5, 500}, {4999, 16, 999}};
        var kernel = new PagedAttentionKernel(device, Variant.STREAMING);
        var reduce = new AttentionReduceKernel(device);
        int outElements = c.numTokens * numHeads * headDim;
        try (AttentionCase.Inputs in = c.new Inputs(device); AttentionWorkspace workspace = c.workspace(device, 256);
             DeviceMemory out = poisoned(device, 2L * outElements);
             CudaGraph graph = CudaGraph.capture(device, () -> {
                 var splits = kernel.launch(in.q, in.k, in.v, in.positions, in.tokenSeq, in.tables, c.numTokens,
                         c.seqs.size(), c.layout(), workspace);
                 reduce.launch(workspace, splits, in.positions, out, c.numTokens);
             })) {
            for (int[] positions : positionSets) {
                System.arraycopy(positions, 0, c.positions, 0, positions.length);
                in.positions.copyFrom(positions);
                AttentionCase.poison(workspace);
                out.fill((byte) 0xFF);
                graph.replay();
                device.synchronize();
                assertRowsClose(c, downloadBf16(out, outElements), c.reference(), "replay at positions " + Arrays.toString(positions));
            }
        }
    }

    @Test
    void prefillAfterAPrefixHitEqualsTheColdPrefillBitForBit() {
        CudaDevice device = device();
        // The same cache and queries: a cold prefill of 300 tokens and a prefill of the 236 tokens after
        // a 64-token prefix hit must give the suffix rows identical bits.
        for (Variant variant : Variant.values()) {
            AttentionCase cold = newCase(16, 4, 128, PAGE_SIZE, List.of(new Seq(300, 300)));
            float[] coldOut = cold.runPaged(device, variant, 256);
            AttentionCase hit = newCase(16, 4, 128, PAGE_SIZE, List.of(new Seq(300, 236)));
            System.arraycopy(cold.kCache, 0, hit.kCache, 0, cold.kCache.length);
            System.arraycopy(cold.vCache, 0, hit.vCache, 0, cold.vCache.length);
            System.arraycopy(cold.blockTables, 0, hit.blockTables, 0, cold.blockTables.length);
            int rowWidth = 16 * 128;
            System.arraycopy(cold.q, 64 * rowWidth, hit.q, 0, 236 * rowWidth);
            float[] hitOut = hit.runPaged(device, variant, 256);
            assertArrayEquals(Arrays.copyOfRange(coldOut, 64 * rowWidth, 300 * rowWidth), hitOut, variant.toString());
            double error = relativeError(hitOut, hit.reference());
            assertTrue(error < BF16_TOLERANCE, variant + ": attention error " + error);
        }
    }
}
