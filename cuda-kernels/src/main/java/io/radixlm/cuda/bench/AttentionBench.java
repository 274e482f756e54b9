package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.cuda.AttentionReduceKernel;
import io.radixlm.cuda.AttentionWorkspace;
import io.radixlm.cuda.CudaDevice;
import io.radixlm.cuda.DeviceMemory;
import io.radixlm.cuda.PagedAttentionKernel;
import io.radixlm.cuda.RandomFillKernel;
import io.radixlm.model.ModelConfig;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The decode attention kernels alone (paged_attention + attention_reduce, one layer of the given shape):
 * batchSize queries, each over context keys of random KV on shuffled pages. Reported as bytes of K, V
 * and Q read ÷ time ÷ the measured copy bandwidth. The kernel variant is the default one (streaming;
 * -Dradixlm.attention.v1=true: the first kernel), with the workspace a decode step of this batch would have.
 */
final class AttentionBench {
    private static final int REPS = 20;

    private AttentionBench() { }

    static Measurement run(CudaDevice device, String shape, ModelConfig c, int batchSize, int context, Ceilings ceilings) {
        int pageSize = DecodeBench.PAGE_SIZE;
        int pagesPerSeq = DecodeBench.pagesFor(context);
        int numPages = batchSize * pagesPerSeq;
        long slotElements = (long) numPages * pageSize * c.kvDim();
        var layout = new PagedAttentionKernel.Layout(c.numHeads(), c.numKvHeads(), c.headDim(), pageSize, numPages, pagesPerSeq);
        try (DeviceMemory k = device.allocate(2 * slotElements);
             DeviceMemory v = device.allocate(2 * slotElements);
             DeviceMemory q = device.allocate(4L * batchSize * c.qDim());
             DeviceMemory positions = device.allocate(4L * batchSize);
             DeviceMemory tokenSeq = device.allocate(4L * batchSize);
             DeviceMemory tables = device.allocate(4L * numPages);
             DeviceMemory out = device.allocate(2L * batchSize * c.qDim());
             AttentionWorkspace workspace = AttentionWorkspace.forStep(device, batchSize, c.numHeads(), c.headDim(),
                     context)) {
            RandomFillKernel fill = new RandomFillKernel(device);
            fill.bf16(k, slotElements, 31, 0f, 1f);
            fill.bf16(v, slotElements, 32, 0f, 1f);
            fill.f32(q, (long) batchSize * c.qDim(), 33, 0f, 1f);
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
            Runnable kernel = () -> attention.launch(q, k, v, positions, tokenSeq, tables, batchSize, batchSize, layout, workspace);
            int numSplits = attention.numSplits(batchSize, layout, workspace);
            double kernelMillis = Timing.medianEventMillis(device, 3, REPS, kernel);
            double bothMillis = Timing.medianEventMillis(device, 3, REPS, () -> {
                var splits = attention.launch(q, k, v, positions, tokenSeq, tables, batchSize, batchSize, layout, workspace);
                reduce.launch(workspace, splits, positions, out, batchSize);
            });
            long bytes = StepCost.attentionBytes(c, batchSize, context);
            double fraction = bytes / (bothMillis / 1e3) / ceilings.copyBytesPerSecond();
            double kernelFraction = bytes / (kernelMillis / 1e3) / ceilings.copyBytesPerSecond();
            ObjectNode json = JsonNodeFactory.instance.objectNode()
                    .put("shape", shape).put("batch", batchSize).put("context", context).put("bytes", bytes)
                    .put("variant", attention.variant().name()).put("num_splits", numSplits)
                    .put("v1_split_size", workspace.splitSize()).put("ms", bothMillis).put("ms_attention_kernel_only", kernelMillis)
                    .put("bandwidth_fraction", fraction).put("bandwidth_fraction_attention_kernel_only", kernelFraction);
            return new Measurement("decode_attention", shape + " layer, batch " + batchSize + ", context " + context,
                    String.format("%.3f ms (%.3f without the reduce), %.1f%% of bandwidth, %s, %d splits", bothMillis,
                            kernelMillis, 100 * fraction, attention.variant(), numSplits), json);
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
