package io.radixlm.cuda;

import io.radixlm.cuda.AttentionCase.Seq;
import io.radixlm.cuda.PagedAttentionKernel.Merge;
import io.radixlm.cuda.PagedAttentionKernel.V3Shape;
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
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Paged attention + reduce (V3 in every shape -Dradixlm.attention.v3 can pick, the V2 streaming kernel, and the
 * V1 kernel kept for A/B) against a plain softmax(q·kᵀ/√d)·v over the same bf16 cache, pages scattered at random
 * through the pool: decode at awkward and long contexts for every head dim and GQA group (1, 2, 4, 8 and the
 * padded 3, 6, 7), page sizes that are not 16, every split count, batches mixing prefill and decode, skipped
 * tokens, and one captured CUDA graph replayed as contexts change. Every kernel runs on the same case; failures
 * name the kernel and the token (its sequence and position) whose row is wrong, all kernels' failures together.
 * Every V3 shape also runs fused (its last split merges into out, no reduce launch): against the reference in every
 * case above, bit for bit against the unfused kernel at every split count 1 .. 256, its counters back at 0 after
 * each run and each graph replay. A decode-only launch that loads its older keys before its wait gives the bits of
 * one that waits first, at every split count, and never reads a token's own key before the kernel ahead wrote it.
 */
@Tag("gpu")
class PagedAttentionGpuTest {
    private static final int PAGE_SIZE = 16;
    private static final int[] CONTEXTS = {1, 15, 16, 17, 1000, 5000, 32768};
    private final Random random = new Random();

    /** One kernel the tests run: a variant, and for V3 its compiled shape and who merges its splits. */
    record Kernel(Variant variant, V3Shape shape, Merge merge) {
        PagedAttentionKernel on(CudaDevice device) { return new PagedAttentionKernel(device, variant, shape, merge); }

        @Override
        public String toString() {
            return variant == Variant.V3 ? "V3 " + shape + (merge == Merge.FUSED ? " fused" : "") : variant.toString();
        }
    }

    /** Every V3 shape, as is and fused. */
    private static final List<Kernel> V3_KERNELS = PagedAttentionKernel.V3_SHAPES.stream()
            .flatMap(shape -> Stream.of(Merge.values()).map(merge -> new Kernel(Variant.V3, shape, merge))).toList();
    /** V2 and every V3 kernel: the kernels that pick their own split counts. */
    private static final List<Kernel> STREAMING_KERNELS = Stream.concat(
            Stream.of(new Kernel(Variant.STREAMING, V3Shape.DEFAULT, Merge.SEPARATE)), V3_KERNELS.stream()).toList();
    private static final List<Kernel> ALL_KERNELS = Stream.concat(
            Stream.of(new Kernel(Variant.V1, V3Shape.DEFAULT, Merge.SEPARATE)), STREAMING_KERNELS.stream()).toList();

    /** Runs check for every kernel, reporting the failures of all of them. */
    private static void forEachKernel(List<Kernel> kernels, java.util.function.Consumer<Kernel> check) {
        assertAll(kernels.stream().map(k -> () -> check.accept(k)));
    }

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
    @CsvSource({"8, 8, 32, 16", "16, 2, 32, 16", "12, 4, 32, 16", "6, 6, 48, 16", "8, 2, 48, 16", "32, 8, 64, 16",
            "8, 4, 64, 16", "16, 2, 96, 16", "12, 3, 96, 16", "4, 2, 96, 16", "32, 8, 128, 16", "32, 32, 128, 16",
            "8, 1, 128, 16", "28, 4, 128, 16", "24, 4, 64, 16", "6, 2, 128, 16", "16, 8, 128, 16", "16, 4, 64, 1",
            "16, 4, 128, 5", "8, 1, 48, 32", "32, 8, 128, 48"})
    void streamingDecodeAtEveryContextMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim, int pageSize) {
        CudaDevice device = device();
        String shape = numHeads + "/" + numKvHeads + " heads, head_dim " + headDim + ", page size " + pageSize;
        // all contexts in one batch (few splits each), then each alone (as many splits as the GPU's size allows)
        List<AttentionCase> cases = new ArrayList<>();
        cases.add(newCase(numHeads, numKvHeads, headDim, pageSize, decodes(CONTEXTS)));
        for (int context : CONTEXTS) cases.add(newCase(numHeads, numKvHeads, headDim, pageSize, decodes(context)));
        List<double[]> references = cases.stream().map(AttentionCase::reference).toList();
        forEachKernel(STREAMING_KERNELS, kernel -> {
            for (int i = 0; i < cases.size(); i++) {
                AttentionCase c = cases.get(i);
                String what = (i == 0 ? "batch" : "context " + c.maxContext() + " alone") + ", " + shape + ", " + kernel;
                assertRowsClose(c, c.runPaged(device, kernel.on(device), 256, 0, null), references.get(i), what);
            }
        });
    }

    @ParameterizedTest(name = "{0} splits")
    @ValueSource(ints = {1, 2, 3, 7, 64, 255, 256})
    void streamingKernelIsRightAtAnySplitCount(int numSplits) {
        CudaDevice device = device();
        // decodes of awkward lengths plus three tokens of one prompt (the paged kernel serves those too when
        // the prefill kernel is off); more splits than a short context has chunks leave empty splits behind
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 1), new Seq(17, 1), new Seq(1000, 1), new Seq(5000, 1),
                new Seq(300, 3));
        for (int[] shape : new int[][] {{16, 4, 128}, {8, 1, 64}, {6, 6, 48}, {28, 4, 96}, {16, 2, 32}, {8, 4, 64}, {6, 2, 128}}) {
            AttentionCase c = newCase(shape[0], shape[1], shape[2], PAGE_SIZE, seqs);
            double[] reference = c.reference();
            forEachKernel(STREAMING_KERNELS, kernel -> assertRowsClose(c, c.runPaged(device, kernel.on(device), 256, numSplits, null),
                    reference, numSplits + " splits, heads " + shape[0] + "/" + shape[1] + ", head_dim " + shape[2] + ", " + kernel));
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
        forEachKernel(ALL_KERNELS, kernel -> assertRowsClose(c, c.runPaged(device, kernel.on(device), splitSize, 0, null),
                reference, kernel.toString()));
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"32, 8, 128", "32, 8, 64", "12, 3, 96", "8, 8, 32", "8, 1, 48"})
    void skippedTokensAreLeftAloneAndTheOthersMatchTheReference(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // the rows CudaBackend leaves to the prefill kernel (here: the prompts) must stay as they were (poisoned)
        List<Seq> seqs = List.of(new Seq(17, 17), new Seq(300, 1), new Seq(1, 1), new Seq(300, 236), new Seq(4097, 1));
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, seqs);
        int[] skip = new int[c.numTokens];
        for (int s = 0; s < seqs.size(); s++) {
            if (seqs.get(s).queryLength() > 1) Arrays.fill(skip, c.queryStarts[s], c.queryStarts[s + 1], 1);
        }
        double[] reference = c.reference();
        int row = numHeads * headDim;
        forEachKernel(ALL_KERNELS, kernel -> {
            float[] out = c.runPaged(device, kernel.on(device), 256, 0, skip);
            for (int t = 0; t < c.numTokens; t++) {
                if (skip[t] == 0) continue;
                for (int i = t * row; i < (t + 1) * row; i++) {
                    assertTrue(Float.isNaN(out[i]), kernel + ": skipped token " + t + " was written at " + (i - t * row));
                    out[i] = (float) reference[i];  // so that the rows check below sees only the others
                }
            }
            assertRowsClose(c, out, reference, kernel + ", with skipped tokens");
        });
    }

    @ParameterizedTest(name = "prefill of 4097 tokens, heads {0}/{1}, head_dim {2}")
    @CsvSource({"8, 1, 64", "4, 4, 128"})
    void longCausalPrefillMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, List.of(new Seq(4097, 4097)));
        double[] reference = c.reference();
        forEachKernel(ALL_KERNELS, kernel -> {
            double error = relativeError(c.runPaged(device, kernel.on(device), 256, 0, null), reference);
            assertTrue(error < BF16_TOLERANCE, kernel + ": attention error " + error);
        });
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"32, 8, 128", "8, 1, 64", "12, 3, 96", "28, 4, 128"})
    void oneCapturedGraphStaysRightAsContextsChange(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // pages for contexts up to 5000 / 17 / 1000; the graph is captured once, then replayed with positions
        // that change the number of keys, and of splits holding keys, in every sequence
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(5000, 17, 1000));
        int[][] positionSets = {{4999, 16, 999}, {0, 0, 0}, {15, 16, 17}, {16, 1, 998}, {2047, 5, 500}, {4999, 16, 999}};
        forEachKernel(STREAMING_KERNELS, kernel -> replayAtPositions(device, c, kernel.on(device), positionSets, kernel.toString()));
    }

    /** Captures kernel + reduce over c once, then replays the graph at each set of positions, checking every replay. */
    private static void replayAtPositions(CudaDevice device, AttentionCase c, PagedAttentionKernel kernel, int[][] positionSets,
                                          String what) {
        var reduce = new AttentionReduceKernel(device);
        int outElements = c.numTokens * c.numHeads * c.headDim;
        try (AttentionCase.Inputs in = c.new Inputs(device); AttentionWorkspace workspace = c.workspace(device, 256);
             DeviceMemory out = poisoned(device, 2L * outElements);
             CudaGraph graph = CudaGraph.capture(device, () -> {
                 var splits = kernel.launch(in.q, in.k, in.v, in.positions, in.tokenSeq, in.tables, c.numTokens,
                         c.seqs.size(), c.layout(), workspace, null, out);
                 reduce.launch(workspace, splits, in.positions, out, c.numTokens);
             })) {
            for (int[] positions : positionSets) {
                System.arraycopy(positions, 0, c.positions, 0, positions.length);
                in.positions.copyFrom(positions);
                AttentionCase.poison(workspace);
                out.fill((byte) 0xFF);
                graph.replay();
                device.synchronize();
                assertRowsClose(c, downloadBf16(out, outElements), c.reference(),
                        what + ", replay at positions " + Arrays.toString(positions));
                c.requireCountersAtZero(workspace, what + ", replay at positions " + Arrays.toString(positions));
            }
        }
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"16, 4, 128", "32, 8, 128", "8, 8, 32", "8, 1, 48", "16, 2, 64", "12, 3, 96", "14, 2, 96", "64, 8, 64"})
    void fusedMergeGivesTheUnfusedBitsAtEverySplitCount(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // decodes of awkward lengths (1 key: one split holds keys, written directly; 15, 17: fewer keys than splits),
        // three tokens of one prompt, and a skipped token whose rows must stay poisoned in both
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 1), new Seq(17, 1), new Seq(1000, 1), new Seq(5000, 1),
                new Seq(300, 3), new Seq(40, 1));
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, seqs);
        int[] skip = new int[c.numTokens];
        skip[c.numTokens - 1] = 1;
        boolean everyCount = numHeads == 16 && headDim == 128;  // one shape at all 256 counts, the others at a few
        int[] counts = everyCount ? IntStream.rangeClosed(1, 256).toArray() : new int[] {1, 2, 3, 7, 16, 64, 255, 256};
        forEachKernel(PagedAttentionKernel.V3_SHAPES.stream().map(shape -> new Kernel(Variant.V3, shape, Merge.FUSED)).toList(),
                fused -> {
            Kernel plain = new Kernel(Variant.V3, fused.shape(), Merge.SEPARATE);
            PagedAttentionKernel fusedKernel = fused.on(device);
            PagedAttentionKernel plainKernel = plain.on(device);
            // the count the fused kernel picks itself too (a fused kernel's residency may differ from the plain one's)
            int picked;
            try (AttentionWorkspace workspace = c.workspace(device, 256)) {
                picked = fusedKernel.numSplits(c.numTokens, c.layout(), workspace);
            }
            List<String> differ = new ArrayList<>();
            for (int numSplits : IntStream.concat(Arrays.stream(counts), IntStream.of(picked)).toArray()) {
                float[] expected = c.runPaged(device, plainKernel, 256, numSplits, skip);
                float[] actual = c.runPaged(device, fusedKernel, 256, numSplits, skip);
                int first = firstDifference(expected, actual);
                if (first >= 0) {
                    int row = numHeads * headDim;
                    differ.add(numSplits + " splits: token " + first / row + " head " + first % row / headDim + " dim "
                            + first % headDim + ": " + actual[first] + " vs " + expected[first]);
                }
            }
            assertTrue(differ.isEmpty(), fused + " differs from " + plain + ", heads " + numHeads + "/" + numKvHeads
                    + ", head_dim " + headDim + ": " + differ);
        });
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"32, 8, 128", "8, 1, 64", "12, 3, 96", "16, 8, 128", "8, 8, 32", "28, 4, 128", "6, 6, 48", "64, 8, 64"})
    void earlyLoadsGiveTheBitsOfALaunchThatWaitsFirst(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // a decode-only batch whose own keys (the last of each context) fall in the first, second and later
        // iterations of a split, alone in a split, or are the only key (1: that token waits first); and one token
        // alone, so that high split counts leave a few keys per split
        List<AttentionCase> cases = List.of(newCase(numHeads, numKvHeads, headDim, PAGE_SIZE,
                        decodes(1, 2, 15, 16, 17, 33, 100, 1000, 5000)),
                newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(4099)));
        int[] counts = {0, 1, 2, 3, 7, 16, 64, 255, 256};  // 0: the count the launch picks
        forEachKernel(V3_KERNELS, kernel -> {
            PagedAttentionKernel attention = kernel.on(device);
            List<String> differ = new ArrayList<>();
            for (AttentionCase c : cases) {
                for (int numSplits : counts) {
                    float[] expected = c.runPaged(device, attention, 256, numSplits, null, false);
                    float[] actual = c.runPaged(device, attention, 256, numSplits, null, true);
                    int first = firstDifference(expected, actual);
                    if (first >= 0) {
                        int row = numHeads * headDim;
                        differ.add(c.numTokens + " tokens, " + numSplits + " splits: token " + first / row + " head "
                                + first % row / headDim + ": " + actual[first] + " vs " + expected[first]);
                    }
                }
            }
            assertTrue(differ.isEmpty(), kernel + ", heads " + numHeads + "/" + numKvHeads + ", head_dim " + headDim
                    + ": early loads differ: " + differ);
        });
    }

    @ParameterizedTest(name = "contexts {0}")
    @ValueSource(strings = {"2 17 40 300 33", "300", "2"})
    void earlyLoadsNeverReadTheOwnKeyBeforeTheKernelAheadHasWrittenIt(String contexts) {
        CudaDevice device = device();
        // Each token's own K/V rows start as NaN in the cache; the kernels ahead on the stream (under dependent
        // launch) are a slow copy, then two gathers that rewrite every row of K and V from clean copies: the older
        // rows with the bits they already hold, the own rows with their values. The attention launched after them
        // starts while the slow copy runs, so an own row read before its wait would be NaN.
        // (one token: the cluster merge, where the GPU has clusters; head dim 64 takes them by default)
        AttentionCase c = newCase(32, 8, 64, PAGE_SIZE, decodes(Arrays.stream(contexts.split(" ")).mapToInt(Integer::parseInt).toArray()));
        int slots = c.numPages * c.pageSize;
        int width = c.numKvHeads * c.headDim;
        float[] kStale = c.kCache.clone();
        float[] vStale = c.vCache.clone();
        for (int t = 0; t < c.numTokens; t++) {
            for (int h = 0; h < c.numKvHeads; h++) {
                int offset = c.slotOffset(t, c.positions[t], h);
                Arrays.fill(kStale, offset, offset + c.headDim, Float.NaN);
                Arrays.fill(vStale, offset, offset + c.headDim, Float.NaN);
            }
        }
        double[] reference = c.reference();
        var gather = new GatherRowsKernel(device);
        var reduce = new AttentionReduceKernel(device);
        int slowRows = device.numMultiprocessors();
        int slowWidth = 1 << 19;  // a 1 MiB row per CTA
        forEachKernel(V3_KERNELS, kernel -> {
            PagedAttentionKernel attention = kernel.on(device);
            float[][] outs = new float[2][];
            for (int early = 0; early < 2; early++) {
                try (AttentionCase.Inputs in = c.new Inputs(device);
                     DeviceMemory kClean = GpuTestSupport.uploadBf16(device, c.kCache);
                     DeviceMemory vClean = GpuTestSupport.uploadBf16(device, c.vCache);
                     DeviceMemory k = GpuTestSupport.uploadBf16(device, kStale);
                     DeviceMemory v = GpuTestSupport.uploadBf16(device, vStale);
                     DeviceMemory identity = GpuTestSupport.upload(device, IntStream.range(0, slots).toArray());
                     DeviceMemory slowIn = device.allocate(2L * slowWidth);
                     DeviceMemory slowRowsIn = GpuTestSupport.upload(device, new int[slowRows]);
                     DeviceMemory slowOut = device.allocate(2L * slowWidth * slowRows);
                     AttentionWorkspace workspace = c.workspace(device, 256);
                     DeviceMemory out = poisoned(device, 2L * c.numTokens * c.numHeads * c.headDim)) {
                    AttentionCase.poison(workspace);
                    device.synchronize();
                    gather.launch(slowIn, slowRowsIn, slowOut, 1, slowRows, slowWidth);
                    gather.launch(kClean, identity, k, slots, slots, width);
                    gather.launch(vClean, identity, v, slots, slots, width);
                    var splits = attention.launch(in.q, k, v, in.positions, in.tokenSeq, in.tables, c.numTokens,
                            c.seqs.size(), c.layout(), workspace, null, out, early == 1, c.maxContext());
                    reduce.launch(workspace, splits, in.positions, out, c.numTokens);
                    outs[early] = downloadBf16(out, c.numTokens * c.numHeads * c.headDim);
                }
            }
            int first = firstDifference(outs[0], outs[1]);
            assertTrue(first < 0, kernel + ": early loads differ at " + first + ": " + (first < 0 ? "" : outs[1][first] + " vs " + outs[0][first]));
            assertRowsClose(c, outs[1], reference, kernel + ", early loads behind a slow writer");
        });
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"32, 8, 128", "32, 8, 64", "16, 8, 128", "8, 8, 32", "6, 6, 48", "8, 1, 128", "28, 4, 128", "14, 2, 96",
            "64, 8, 64"})
    void clusterMergeMatchesTheReferenceAndTheSeparateReduce(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        assumeTrue(device.launchesClusters(), "thread-block clusters need compute capability 9.0: " + device.name());
        // clusters for every head dim, though by default only the small ones take them
        PagedAttentionKernel clustered = new PagedAttentionKernel(device, Variant.V3, V3Shape.DEFAULT, Merge.SEPARATE, 128);
        PagedAttentionKernel separate = new PagedAttentionKernel(device, Variant.V3, V3Shape.DEFAULT, Merge.SEPARATE, 0);
        // one token at contexts where all, some or one of the 16 splits hold keys, two tokens, and the most
        // (token, KV head) pairs this GPU runs as clusters at once
        List<AttentionCase> cases = new ArrayList<>();
        for (int context : new int[] {1, 2, 15, 16, 17, 255, 256, 257, 1000, 5000, 32768}) {
            cases.add(newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(context)));
        }
        AttentionCase one = cases.get(0);
        int most = 1;
        while (clustered.mergesInClusters(most + 1, one.layout(), 1)) most++;
        assertTrue(clustered.mergesInClusters(1, one.layout(), PagedAttentionKernel.CLUSTER_MAX_KEYS),
                "one token must run in clusters on " + device.name());
        assertTrue(!clustered.mergesInClusters(1, one.layout(), PagedAttentionKernel.CLUSTER_MAX_KEYS + 1),
                "more keys than the cluster kernels take");
        assertTrue(!separate.mergesInClusters(1, one.layout(), 1), "clusters off must mean off");
        if (most >= 2) cases.add(newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(3000, 17)));
        cases.add(newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(random.ints(most, 1, 3000).toArray())));
        List<String> bad = new ArrayList<>();
        for (AttentionCase c : cases) {
            // the cluster kernel at every context, though launches past CLUSTER_MAX_KEYS would not pick it (maxKeys 1)
            String what = c.numTokens + " tokens, contexts up to " + c.maxContext();
            assertTrue(clustered.mergesInClusters(c.numTokens, c.layout(), 1), what + " should run in clusters");
            double[] reference = c.reference();
            for (boolean early : new boolean[] {false, true}) {
                float[] inClusters = c.runPaged(device, clustered, 256, 0, null, early, 1);
                float[] reduced = c.runPaged(device, separate, 256, 0, null, early);
                double vsReference = relativeError(inClusters, reference);
                double vsReduce = relativeError(inClusters, IntStream.range(0, reduced.length).mapToDouble(i -> reduced[i]).toArray());
                if (!(vsReference < BF16_TOLERANCE) || !(vsReduce < BF16_TOLERANCE)) {
                    bad.add(what + (early ? ", early loads" : "") + ": vs reference " + vsReference + ", vs reduce " + vsReduce);
                }
            }
        }
        System.out.printf("[gpu-test] cluster merge, heads %d/%d, head_dim %d: up to %d tokens in clusters at once%n",
                numHeads, numKvHeads, headDim, most);
        assertTrue(bad.isEmpty(), "heads " + numHeads + "/" + numKvHeads + ", head_dim " + headDim + ": " + bad);
    }

    /** The first index whose bits differ (NaN poison included), or -1. */
    private static int firstDifference(float[] expected, float[] actual) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) return i;
        }
        return -1;
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}")
    @CsvSource({"32, 8, 64", "32, 8, 128"})
    void longContextDecodeBatchesRunTheTensorCoreKernelAtHeadDim64(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        // 64 decode tokens whose table rows hold 4,112 keys (257 pages): a long-context decode launch
        int[] contexts = IntStream.range(0, PagedAttentionKernel.LONG_CONTEXT_MIN_TOKENS)
                .map(i -> i == 0 ? PagedAttentionKernel.LONG_CONTEXT_MIN_KEYS + 1 : 1 + random.nextInt(3000)).toArray();
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, PAGE_SIZE, decodes(contexts));
        assertTrue(PagedAttentionKernel.isLongContextDecode(c.numTokens, c.layout(), true));
        PagedAttentionKernel byDefault = new PagedAttentionKernel(device, Variant.V3, V3Shape.DEFAULT, Merge.SEPARATE);
        float[] decodeOnly = c.runPaged(device, byDefault, 256, 0, null, true);
        float[] tensorCores = c.runPaged(device,
                new PagedAttentionKernel(device, Variant.V3, V3Shape.TENSOR_CORES, Merge.SEPARATE), 256, 0, null, true);
        float[] v3 = c.runPaged(device, byDefault, 256, 0, null, false);  // not decode-only: the kernel's own shape
        double[] reference = c.reference();
        assertRowsClose(c, decodeOnly, reference, "long-context decode, head_dim " + headDim);
        if (headDim == PagedAttentionKernel.LONG_CONTEXT_HEAD_DIM) {
            assertEquals(-1, firstDifference(tensorCores, decodeOnly), "the decode-only launch ran the tensor-core kernel");
            assertTrue(firstDifference(v3, decodeOnly) >= 0, "V3 (the launch that is not decode-only) rounds differently");
        } else {
            assertEquals(-1, firstDifference(v3, decodeOnly), "head dim " + headDim + " stays on V3");
        }
    }

    @Test
    void prefillAfterAPrefixHitEqualsTheColdPrefillBitForBit() {
        CudaDevice device = device();
        // The same cache and queries: a cold prefill of 300 tokens and a prefill of the 236 tokens after
        // a 64-token prefix hit must give the suffix rows identical bits.
        forEachKernel(ALL_KERNELS, kernel -> {
            AttentionCase cold = newCase(16, 4, 128, PAGE_SIZE, List.of(new Seq(300, 300)));
            float[] coldOut = cold.runPaged(device, kernel.on(device), 256, 0, null);
            AttentionCase hit = newCase(16, 4, 128, PAGE_SIZE, List.of(new Seq(300, 236)));
            System.arraycopy(cold.kCache, 0, hit.kCache, 0, cold.kCache.length);
            System.arraycopy(cold.vCache, 0, hit.vCache, 0, cold.vCache.length);
            System.arraycopy(cold.blockTables, 0, hit.blockTables, 0, cold.blockTables.length);
            int rowWidth = 16 * 128;
            System.arraycopy(cold.q, 64 * rowWidth, hit.q, 0, 236 * rowWidth);
            float[] hitOut = hit.runPaged(device, kernel.on(device), 256, 0, null);
            assertArrayEquals(Arrays.copyOfRange(coldOut, 64 * rowWidth, 300 * rowWidth), hitOut, kernel.toString());
            double error = relativeError(hitOut, hit.reference());
            assertTrue(error < BF16_TOLERANCE, kernel + ": attention error " + error);
        });
    }
}
