package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.randomFloats;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Paged attention + reduce against a plain softmax(q·kᵀ/√d)·v over the same bf16 cache, for batches
 * mixing prefill and decode, pages scattered at random through the pool.
 */
@Tag("gpu")
class PagedAttentionGpuTest {
    private static final int PAGE_SIZE = 16;
    private final Random random = new Random();

    /** One sequence of the batch: its context length after the step and how many of those tokens are new. */
    record Seq(int contextLength, int queryLength) { }

    /** Inputs of one attention call and its reference output. */
    private final class Case {
        final int numHeads;
        final int numKvHeads;
        final int headDim;
        final List<Seq> seqs;
        final int numPages;
        final int maxPagesPerSeq;
        final int numTokens;
        final float[] q;          // (numTokens, numHeads, headDim)
        final float[] kCache;     // (numPages * PAGE_SIZE, numKvHeads, headDim), bf16 values
        final float[] vCache;
        final int[] positions;    // (numTokens)
        final int[] tokenSeq;     // (numTokens)
        final int[] blockTables;  // (numSeqs, maxPagesPerSeq)

        Case(int numHeads, int numKvHeads, int headDim, List<Seq> seqs) {
            this.numHeads = numHeads;
            this.numKvHeads = numKvHeads;
            this.headDim = headDim;
            this.seqs = seqs;
            maxPagesPerSeq = seqs.stream().mapToInt(s -> pagesFor(s.contextLength())).max().orElseThrow();
            int pagesNeeded = seqs.stream().mapToInt(s -> pagesFor(s.contextLength())).sum();
            numPages = pagesNeeded + 5;  // spare pages the tables never name
            numTokens = seqs.stream().mapToInt(Seq::queryLength).sum();
            q = randomFloats(random, numTokens * numHeads * headDim, 1.5f);
            kCache = randomBf16Values(random, numPages * PAGE_SIZE * numKvHeads * headDim, 1.5f);
            vCache = randomBf16Values(random, numPages * PAGE_SIZE * numKvHeads * headDim, 1f);
            positions = new int[numTokens];
            tokenSeq = new int[numTokens];
            blockTables = new int[seqs.size() * maxPagesPerSeq];
            List<Integer> pool = new ArrayList<>();
            for (int p = 0; p < numPages; p++) pool.add(p);
            Collections.shuffle(pool, random);
            int token = 0;
            int nextPage = 0;
            for (int s = 0; s < seqs.size(); s++) {
                Seq seq = seqs.get(s);
                for (int p = 0; p < pagesFor(seq.contextLength()); p++) blockTables[s * maxPagesPerSeq + p] = pool.get(nextPage++);
                for (int i = 0; i < seq.queryLength(); i++) {
                    positions[token] = seq.contextLength() - seq.queryLength() + i;
                    tokenSeq[token++] = s;
                }
            }
        }

        double[] reference() {
            int group = numHeads / numKvHeads;
            double[] out = new double[numTokens * numHeads * headDim];
            for (int t = 0; t < numTokens; t++) {
                int numKeys = positions[t] + 1;
                for (int h = 0; h < numHeads; h++) {
                    int kvHead = h / group;
                    double[] scores = new double[numKeys];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < numKeys; j++) {
                        int kOffset = slotOffset(t, j, kvHead);
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) dot += (double) q[(t * numHeads + h) * headDim + d] * kCache[kOffset + d];
                        scores[j] = dot / Math.sqrt(headDim);
                        max = Math.max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < numKeys; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j < numKeys; j++) {
                        int vOffset = slotOffset(t, j, kvHead);
                        for (int d = 0; d < headDim; d++) out[(t * numHeads + h) * headDim + d] += scores[j] / sum * vCache[vOffset + d];
                    }
                }
            }
            return out;
        }

        private int slotOffset(int token, int position, int kvHead) {
            int page = blockTables[tokenSeq[token] * maxPagesPerSeq + position / PAGE_SIZE];
            return ((page * PAGE_SIZE + position % PAGE_SIZE) * numKvHeads + kvHead) * headDim;
        }

        /** Runs both kernels on the GPU and returns the output (numTokens, numHeads, headDim). */
        float[] runOnGpu(CudaDevice device, int splitSize) {
            int maxContext = seqs.stream().mapToInt(Seq::contextLength).max().orElseThrow();
            var layout = new PagedAttentionKernel.Layout(numHeads, numKvHeads, headDim, PAGE_SIZE, numPages, maxPagesPerSeq);
            try (DeviceMemory qGpu = upload(device, q); DeviceMemory kGpu = uploadBf16(device, kCache);
                 DeviceMemory vGpu = uploadBf16(device, vCache); DeviceMemory positionsGpu = upload(device, positions);
                 DeviceMemory tokenSeqGpu = upload(device, tokenSeq); DeviceMemory tablesGpu = upload(device, blockTables);
                 AttentionWorkspace workspace = AttentionWorkspace.allocate(device, numTokens, numHeads, headDim, splitSize, maxContext);
                 DeviceMemory out = poisoned(device, 2L * numTokens * numHeads * headDim)) {
                workspace.partMax().fill((byte) 0xFF);
                workspace.partSum().fill((byte) 0xFF);
                workspace.partAcc().fill((byte) 0xFF);
                new PagedAttentionKernel(device).launch(qGpu, kGpu, vGpu, positionsGpu, tokenSeqGpu, tablesGpu,
                        numTokens, seqs.size(), layout, workspace);
                new AttentionReduceKernel(device).launch(workspace, positionsGpu, out, numTokens);
                return downloadBf16(out, numTokens * numHeads * headDim);
            }
        }
    }

    private static int pagesFor(int tokens) { return (tokens + PAGE_SIZE - 1) / PAGE_SIZE; }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, split {3}")
    @CsvSource({"8, 8, 64, 256", "16, 4, 128, 256", "32, 4, 128, 64", "8, 1, 64, 16", "28, 4, 128, 512", "32, 32, 128, 256",
            "6, 6, 48, 256", "4, 2, 32, 16", "12, 3, 96, 128"})
    void mixedBatchOfPrefillAndDecodeMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim, int splitSize) {
        CudaDevice device = device();
        // prefills of awkward lengths (whole prompt new), a prefix hit (only the suffix new), decodes up to 4097
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 15), new Seq(16, 16), new Seq(17, 17),
                new Seq(300, 236), new Seq(17, 1), new Seq(300, 1), new Seq(4097, 1), new Seq(16, 1));
        Case c = new Case(numHeads, numKvHeads, headDim, seqs);
        double error = relativeError(c.runOnGpu(device, splitSize), c.reference());
        assertTrue(error < BF16_TOLERANCE, "attention error " + error);
    }

    @ParameterizedTest(name = "prefill of 4097 tokens, heads {0}/{1}, head_dim {2}")
    @CsvSource({"8, 1, 64", "4, 4, 128"})
    void longCausalPrefillMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        Case c = new Case(numHeads, numKvHeads, headDim, List.of(new Seq(4097, 4097)));
        double error = relativeError(c.runOnGpu(device, 256), c.reference());
        assertTrue(error < BF16_TOLERANCE, "attention error " + error);
    }

    @Test
    void prefillAfterAPrefixHitEqualsTheColdPrefillBitForBit() {
        CudaDevice device = device();
        // The same cache and queries: a cold prefill of 300 tokens and a prefill of the 236 tokens after
        // a 64-token prefix hit must give the suffix rows identical bits.
        Case cold = new Case(16, 4, 128, List.of(new Seq(300, 300)));
        float[] coldOut = cold.runOnGpu(device, 256);
        Case hit = new Case(16, 4, 128, List.of(new Seq(300, 236)));
        System.arraycopy(cold.kCache, 0, hit.kCache, 0, cold.kCache.length);
        System.arraycopy(cold.vCache, 0, hit.vCache, 0, cold.vCache.length);
        System.arraycopy(cold.blockTables, 0, hit.blockTables, 0, cold.blockTables.length);
        int rowWidth = 16 * 128;
        System.arraycopy(cold.q, 64 * rowWidth, hit.q, 0, 236 * rowWidth);
        float[] hitOut = hit.runOnGpu(device, 256);
        assertArrayEquals(Arrays.copyOfRange(coldOut, 64 * rowWidth, 300 * rowWidth), hitOut);
        double error = relativeError(hitOut, hit.reference());
        assertTrue(error < BF16_TOLERANCE, "attention error " + error);
    }
}
