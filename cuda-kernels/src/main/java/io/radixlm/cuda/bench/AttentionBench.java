package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.cuda.AttentionReduceKernel;
import io.radixlm.cuda.AttentionWorkspace;
import io.radixlm.cuda.CudaDevice;
import io.radixlm.cuda.CudaGraph;
import io.radixlm.cuda.DeviceMemory;
import io.radixlm.cuda.PagedAttentionKernel;
import io.radixlm.cuda.RandomFillKernel;
import io.radixlm.model.ModelConfig;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

/**
 * The decode attention kernels alone (paged_attention + attention_reduce, one layer of the given shape):
 * batchSize queries, each over context keys of random KV on shuffled pages. Reported as bytes of K, V
 * and Q read ÷ time ÷ the measured copy bandwidth. The kernel variant is the JVM's (V3 in the shape
 * -Dradixlm.attention.v3 names, default W4U4B2; -Dradixlm.attention.v2=true: the V2 streaming kernel;
 * v1=true: the first), with the workspace a decode step of this batch would have.
 * Timed per launch inside replayed CUDA graphs (as a decode step runs them), cycling through K/V copies so that
 * the cache is read from HBM.
 */
final class AttentionBench {
    private static final int REPS = 9;
    /** Launches per captured graph. */
    private static final int LAUNCHES = 20;
    /** K/V copies are cycled until the launches of a graph read at least this much: L2 (50 MB) holds none of it. */
    private static final long MIN_BYTES_CYCLED = 256L << 20;

    private AttentionBench() { }

    static Measurement run(CudaDevice device, String shape, ModelConfig c, int batchSize, int context, Ceilings ceilings) {
        int pageSize = DecodeBench.PAGE_SIZE;
        int pagesPerSeq = DecodeBench.pagesFor(context);
        int numPages = batchSize * pagesPerSeq;
        long slotElements = (long) numPages * pageSize * c.kvDim();
        long bytes = StepCost.attentionBytes(c, batchSize, context);
        int copies = (int) Math.max(1, (MIN_BYTES_CYCLED + bytes - 1) / bytes);
        var layout = new PagedAttentionKernel.Layout(c.numHeads(), c.numKvHeads(), c.headDim(), pageSize, numPages, pagesPerSeq);
        List<DeviceMemory> caches = new ArrayList<>();  // K and V of copy i at 2i and 2i + 1
        try (DeviceMemory q = device.allocate(4L * batchSize * c.qDim());
             DeviceMemory positions = device.allocate(4L * batchSize);
             DeviceMemory tokenSeq = device.allocate(4L * batchSize);
             DeviceMemory tables = device.allocate(4L * numPages);
             DeviceMemory out = device.allocate(2L * batchSize * c.qDim());
             AttentionWorkspace workspace = AttentionWorkspace.forStep(device, batchSize, c.numHeads(), c.headDim(),
                     context)) {
            RandomFillKernel fill = new RandomFillKernel(device);
            for (int i = 0; i < 2 * copies; i++) {
                caches.add(device.allocate(2 * slotElements));
                fill.bf16(caches.get(i), slotElements, 31 + i, 0f, 1f);
            }
            fill.f32(q, (long) batchSize * c.qDim(), 3, 0f, 1f);
            int[] pos = new int[batchSize];
            int[] seq = new int[batchSize];
            for (int s = 0; s < batchSize; s++) {
                pos[s] = context - 1;
                seq[s] = s;
            }
            positions.copyFrom(pos);
            tokenSeq.copyFrom(seq);
            tables.copyFrom(shuffledPages(numPages, batchSize * 7L + context));
            PagedAttentionKernel attention = new PagedAttentionKernel(device);
            AttentionReduceKernel reduce = new AttentionReduceKernel(device);
            // kernel only: the states into the workspace (even a fused kernel, given no out, runs its plain twin);
            // both: with out, so that a fused kernel (-Dradixlm.attention.fusedReduce=true) merges and the reduce is a no-op
            IntFunction<PagedAttentionKernel.Splits> kernel = i -> attention.launch(q,
                    caches.get(2 * (i % copies)), caches.get(2 * (i % copies) + 1), positions, tokenSeq, tables,
                    batchSize, batchSize, layout, workspace);
            // early: as the decode step launches it (every token its sequence's only new one: older keys load before the wait)
            interface WritingOut { PagedAttentionKernel.Splits launch(int i, boolean early); }
            WritingOut writingOut = (i, early) -> attention.launch(q,
                    caches.get(2 * (i % copies)), caches.get(2 * (i % copies) + 1), positions, tokenSeq, tables,
                    batchSize, batchSize, layout, workspace, null, out, early, context);
            boolean clustered = attention.mergesInClusters(batchSize, layout, context);  // only the launch given out
            int numSplits = attention.numSplits(batchSize, layout, workspace);
            double kernelMillis = graphMillis(device, kernel::apply);
            double bothMillis = graphMillis(device, i -> reduce.launch(workspace, writingOut.launch(i, false), positions, out, batchSize));
            double decodeMillis = graphMillis(device, i -> reduce.launch(workspace, writingOut.launch(i, true), positions, out, batchSize));
            double fraction = bytes / (bothMillis / 1e3) / ceilings.copyBytesPerSecond();
            double kernelFraction = bytes / (kernelMillis / 1e3) / ceilings.copyBytesPerSecond();
            double decodeFraction = bytes / (decodeMillis / 1e3) / ceilings.copyBytesPerSecond();
            ObjectNode json = JsonNodeFactory.instance.objectNode()
                    .put("shape", shape).put("batch", batchSize).put("context", context).put("bytes", bytes)
                    .put("variant", attention.describe()).put("num_splits", numSplits).put("cluster_merge", clustered)
                    .put("num_splits_with_out", clustered ? PagedAttentionKernel.CLUSTER_SIZE : numSplits)
                    .put("v1_split_size", workspace.splitSize()).put("kv_copies_cycled", copies)
                    .put("launches_per_graph", LAUNCHES).put("ms", bothMillis).put("ms_attention_kernel_only", kernelMillis)
                    .put("bandwidth_fraction", fraction).put("bandwidth_fraction_attention_kernel_only", kernelFraction)
                    .put("ms_decode_launch", decodeMillis).put("bandwidth_fraction_decode_launch", decodeFraction);
            return new Measurement("decode_attention", shape + " layer, batch " + batchSize + ", context " + context,
                    String.format("%.3f ms (%.3f without the reduce%s; %.3f ms, %.1f%%, launched as a decode step), %.1f%% of bandwidth, %s, %d splits", bothMillis,
                            kernelMillis, clustered ? ", " + numSplits + " splits; with out: clusters of "
                                    + PagedAttentionKernel.CLUSTER_SIZE + " that merge themselves" : "",
                            decodeMillis, 100 * decodeFraction, 100 * fraction, attention.describe(), clustered ? PagedAttentionKernel.CLUSTER_SIZE : numSplits), json);
        } finally {
            for (DeviceMemory cache : caches) cache.close();
        }
    }

    /**
     * Milliseconds per launch of launch(i) for i = 0 .. LAUNCHES - 1, captured back to back into one CUDA graph
     * and replayed: timing single launches between events would count the host's launch time (tens of µs
     * from Java), which is longer than the kernel itself at batch 1.
     */
    private static double graphMillis(CudaDevice device, IntConsumer launch) {
        try (CudaGraph graph = CudaGraph.capture(device, () -> {
            for (int i = 0; i < LAUNCHES; i++) launch.accept(i);
        })) {
            return Timing.medianEventMillis(device, 2, REPS, graph::replay) / LAUNCHES;
        }
    }

    /** Block tables (batchSize rows of numPages / batchSize pages) over a random permutation of the pages. */
    private static int[] shuffledPages(int numPages, long seed) {
        List<Integer> pages = new ArrayList<>(numPages);
        for (int p = 0; p < numPages; p++) pages.add(p);
        Collections.shuffle(pages, new Random(seed));
        int[] table = new int[numPages];
        for (int p = 0; p < numPages; p++) table[p] = pages.get(p);
        return table;
    }
}
