package io.radixlm.cuda;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static io.radixlm.cuda.GpuTestSupport.downloadBf16;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.randomFloats;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;

/**
 * Inputs of one attention call over a paged bf16 cache (pages scattered at random through the pool,
 * spare pages no table names) and its reference output: a plain softmax(q·kᵀ/√d)·v in double. Runs the
 * paged (decode) kernel + reduce, the tiled prefill kernel, or both on one batch as CudaBackend does.
 */
final class AttentionCase {
    /** One sequence of the batch: its context length after the step and how many of those tokens are new. */
    record Seq(int contextLength, int queryLength) { }

    final int numHeads;
    final int numKvHeads;
    final int headDim;
    final int pageSize;
    final List<Seq> seqs;
    final int numPages;
    final int maxPagesPerSeq;
    final int numTokens;
    final int[] queryStarts;  // (numSeqs + 1)
    final float[] q;          // (numTokens, numHeads, headDim)
    final float[] kCache;     // (numPages * pageSize, numKvHeads, headDim), bf16 values
    final float[] vCache;
    final int[] positions;    // (numTokens)
    final int[] tokenSeq;     // (numTokens)
    final int[] blockTables;  // (numSeqs, maxPagesPerSeq)

    AttentionCase(Random random, int numHeads, int numKvHeads, int headDim, int pageSize, List<Seq> seqs) {
        this.numHeads = numHeads;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.pageSize = pageSize;
        this.seqs = seqs;
        maxPagesPerSeq = seqs.stream().mapToInt(s -> pagesFor(s.contextLength())).max().orElseThrow();
        int pagesNeeded = seqs.stream().mapToInt(s -> pagesFor(s.contextLength())).sum();
        numPages = pagesNeeded + 5;  // spare pages the tables never name
        numTokens = seqs.stream().mapToInt(Seq::queryLength).sum();
        q = randomFloats(random, numTokens * numHeads * headDim, 1.5f);
        kCache = randomBf16Values(random, numPages * pageSize * numKvHeads * headDim, 1.5f);
        vCache = randomBf16Values(random, numPages * pageSize * numKvHeads * headDim, 1f);
        queryStarts = new int[seqs.size() + 1];
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
            queryStarts[s + 1] = token;
        }
    }

    int pagesFor(int tokens) { return (tokens + pageSize - 1) / pageSize; }

    /**
     * (numTokens, numHeads, headDim): token t at position p attends keys [0, p] of its sequence. Tokens in
     * parallel (each writes only its own rows), so that the 4097-token cases stay quick on the GPU machine.
     */
    double[] reference() {
        double[] out = new double[numTokens * numHeads * headDim];
        IntStream.range(0, numTokens).parallel().forEach(t -> referenceRows(t, out));
        return out;
    }

    private void referenceRows(int t, double[] out) {
        int group = numHeads / numKvHeads;
        int numKeys = positions[t] + 1;
        double[] scores = new double[numKeys];
        for (int h = 0; h < numHeads; h++) {
            int kvHead = h / group;
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

    /** Element offset of the K/V row (slot of key position of token's sequence, kvHead) in the caches. */
    int slotOffset(int token, int position, int kvHead) {
        int page = blockTables[tokenSeq[token] * maxPagesPerSeq + position / pageSize];
        return ((page * pageSize + position % pageSize) * numKvHeads + kvHead) * headDim;
    }

    PagedAttentionKernel.Layout layout() {
        return new PagedAttentionKernel.Layout(numHeads, numKvHeads, headDim, pageSize, numPages, maxPagesPerSeq);
    }

    int maxContext() { return seqs.stream().mapToInt(Seq::contextLength).max().orElseThrow(); }

    /**
     * The paged kernel of the given variant (V3 in its default shape) + reduce for every token; the output
     * (numTokens, numHeads, headDim). splitSize: the V1 kernel's; the streaming kernels pick their split count
     * from the GPU's size.
     */
    float[] runPaged(CudaDevice device, PagedAttentionKernel.Variant variant, int splitSize) {
        return runPaged(device, new PagedAttentionKernel(device, variant, PagedAttentionKernel.V3Shape.DEFAULT), splitSize, 0, null);
    }

    /**
     * As above with a given kernel; forcedSplits > 0 runs its streaming kernel with exactly that many splits per
     * token; skip (numTokens; null: none): tokens with a nonzero entry are left out, their output rows left as poisoned.
     * A fused kernel writes out itself (the reduce launches nothing), and must leave its counters at 0.
     */
    float[] runPaged(CudaDevice device, PagedAttentionKernel kernel, int splitSize, int forcedSplits, int[] skip) {
        return runPaged(device, kernel, splitSize, forcedSplits, skip, false);
    }

    /** As above; oldKeysReady: the launch may load every token's older keys before its wait (a decode-only batch). */
    float[] runPaged(CudaDevice device, PagedAttentionKernel kernel, int splitSize, int forcedSplits, int[] skip,
                     boolean oldKeysReady) {
        return runPaged(device, kernel, splitSize, forcedSplits, skip, oldKeysReady, maxContext());
    }

    /** As above; maxKeys: the launch's kernel-picking hint (the cluster merge takes only launches of few keys). */
    float[] runPaged(CudaDevice device, PagedAttentionKernel kernel, int splitSize, int forcedSplits, int[] skip,
                     boolean oldKeysReady, int maxKeys) {
        try (Inputs in = new Inputs(device); AttentionWorkspace workspace = workspace(device, splitSize);
             DeviceMemory skipGpu = skip == null ? null : upload(device, skip);
             DeviceMemory out = poisoned(device, 2L * numTokens * numHeads * headDim)) {
            poison(workspace);
            PagedAttentionKernel.Splits splits = forcedSplits > 0
                    ? kernel.launchStreaming(in.q, in.k, in.v, in.positions, in.tokenSeq, in.tables, numTokens, layout(),
                            workspace, skipGpu, forcedSplits, out, oldKeysReady)
                    : kernel.launch(in.q, in.k, in.v, in.positions, in.tokenSeq, in.tables, numTokens, seqs.size(),
                            layout(), workspace, skipGpu, out, oldKeysReady, maxKeys);
            boolean clustered = forcedSplits == 0 && kernel.mergesInClusters(numTokens, layout(), maxKeys);
            if (splits.outWritten() != (kernel.fused() || clustered)) {
                throw new AssertionError(kernel.describe() + ": outWritten " + splits.outWritten());
            }
            new AttentionReduceKernel(device).launch(workspace, splits, in.positions, out, numTokens, skipGpu);
            float[] result = downloadBf16(out, numTokens * numHeads * headDim);
            requireCountersAtZero(workspace, kernel.describe() + ", " + splits.numSplits() + " splits");
            return result;
        }
    }

    /** Fails unless the fused kernel's counters of this case's (token, KV head) pairs are all back at 0. */
    void requireCountersAtZero(AttentionWorkspace workspace, String what) {
        int[] counters = workspace.counters().toInts(numTokens * numKvHeads);
        List<String> left = new ArrayList<>();
        for (int i = 0; i < counters.length; i++) {
            if (counters[i] != 0) left.add("token " + i / numKvHeads + " KV head " + i % numKvHeads + ": " + counters[i]);
        }
        if (!left.isEmpty()) throw new AssertionError(what + ": counters not back at 0: " + left);
    }

    /**
     * A workspace for this case: V1 splits of splitSize keys, and room for all {@link PagedAttentionKernel#MAX_SPLITS}
     * streaming splits when there are few tokens (as in a decode step; long prefills get few splits, as in StepBuffers).
     */
    AttentionWorkspace workspace(CudaDevice device, int splitSize) {
        int v1Splits = (maxContext() + splitSize - 1) / splitSize;
        int maxSplits = Math.max(v1Splits, numTokens <= 64 ? PagedAttentionKernel.MAX_SPLITS : 4);
        return AttentionWorkspace.allocate(device, numTokens, numHeads, headDim, splitSize, maxContext(), maxSplits);
    }

    /**
     * As CudaBackend runs a step: the tiled prefill kernel for the sequences with at least minPrefillLength
     * new tokens, the paged kernel + reduce (skipping those rows) for the others.
     */
    float[] runPrefill(CudaDevice device, int splitSize, int minPrefillLength) {
        return runPrefill(device, splitSize, minPrefillLength, PrefillAttentionKernel.ROWS_PER_TILE,
                PrefillAttentionKernel.Split.NONE);
    }

    /** The tiles of the prefill kernel with rowsPerTile rows, as {@link #runPrefill(CudaDevice, int, int, int, PrefillAttentionKernel.Split)} makes them. */
    int[] tiles(int minPrefillLength, int rowsPerTile) {
        return PrefillAttentionKernel.tiles(queryStarts, positions, numHeads / numKvHeads, minPrefillLength, rowsPerTile);
    }

    /**
     * As above with rowsPerTile rows per prefill tile and the prefill keys split as keySplit says (null: as
     * CudaBackend splits them on this device); the split workspace starts poisoned too.
     */
    float[] runPrefill(CudaDevice device, int splitSize, int minPrefillLength, int rowsPerTile,
                       PrefillAttentionKernel.Split keySplit) {
        return runPrefill(device, splitSize, minPrefillLength, new PrefillAttentionKernel(device, rowsPerTile), keySplit);
    }

    /** As above with this prefill kernel (its rows per tile, flavor and launch order). */
    float[] runPrefill(CudaDevice device, int splitSize, int minPrefillLength, PrefillAttentionKernel prefill,
                       PrefillAttentionKernel.Split keySplit) {
        int rowsPerTile = prefill.rowsPerTile();
        int[] tiles = tiles(minPrefillLength, rowsPerTile);
        int numTiles = tiles.length / PrefillAttentionKernel.TILE_INTS;
        int[] skip = new int[numTokens];
        for (int i = 0; i < tiles.length; i += PrefillAttentionKernel.TILE_INTS) {
            for (int t = tiles[i + 1]; t < tiles[i + 1] + tiles[i + 2]; t++) skip[t]++;
        }
        for (int flag : skip) if (flag > 1) throw new AssertionError("a token in two tiles");
        PrefillAttentionKernel.Split split = keySplit != null ? keySplit
                : prefill.split(tiles, positions, numKvHeads, headDim, device.numMultiprocessors(), PrefillWorkspace.MAX_STATES,
                        PrefillAttentionKernel.MIN_SPLIT_KEYS);
        lastSplit = split;
        try (Inputs in = new Inputs(device); DeviceMemory tilesGpu = upload(device, tiles);
             DeviceMemory skipGpu = upload(device, skip);
             AttentionWorkspace workspace = workspace(device, splitSize);
             PrefillWorkspace splits = PrefillWorkspace.allocate(device, PrefillWorkspace.MAX_STATES, headDim);
             DeviceMemory out = poisoned(device, 2L * numTokens * numHeads * headDim)) {
            poison(workspace);
            splits.partMax().fill((byte) 0xFF);
            splits.partSum().fill((byte) 0xFF);
            splits.partAcc().fill((byte) 0xFF);
            if (numTiles < numTokens) {
                var decodeSplits = new PagedAttentionKernel(device).launch(in.q, in.k, in.v, in.positions, in.tokenSeq, in.tables,
                        numTokens, seqs.size(), layout(), workspace, skipGpu, out);
                new AttentionReduceKernel(device).launch(workspace, decodeSplits, in.positions, out, numTokens, skipGpu);
            }
            prefill.launch(in.q, in.k, in.v, in.positions, in.tables, tilesGpu, numTiles, numTokens, seqs.size(), layout(),
                    split, splits, out);
            return downloadBf16(out, numTokens * numHeads * headDim);
        }
    }

    /** The split the latest runPrefill used (to report, and to check that a case meant to split did). */
    PrefillAttentionKernel.Split lastSplit;

    static void poison(AttentionWorkspace workspace) {
        workspace.partMax().fill((byte) 0xFF);
        workspace.partSum().fill((byte) 0xFF);
        workspace.partAcc().fill((byte) 0xFF);
    }

    /** The case's inputs on the device. */
    final class Inputs implements AutoCloseable {
        final DeviceMemory q;
        final DeviceMemory k;
        final DeviceMemory v;
        final DeviceMemory positions;
        final DeviceMemory tokenSeq;
        final DeviceMemory tables;

        Inputs(CudaDevice device) {
            q = upload(device, AttentionCase.this.q);
            k = uploadBf16(device, kCache);
            v = uploadBf16(device, vCache);
            positions = upload(device, AttentionCase.this.positions);
            tokenSeq = upload(device, AttentionCase.this.tokenSeq);
            tables = upload(device, blockTables);
        }

        @Override
        public void close() {
            for (DeviceMemory m : new DeviceMemory[] {q, k, v, positions, tokenSeq, tables}) m.close();
        }
    }
}
