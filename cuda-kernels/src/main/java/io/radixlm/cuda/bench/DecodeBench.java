package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.backend.PendingIds;
import io.radixlm.cuda.CudaBackend;
import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.SamplingParams;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Decode steps as the engine runs them (CUDA graphs on; greedy): batchSize sequences, each attending over
 * context tokens of random KV, one new token per step. Every sequence stays at the same position step after
 * step, so each step does the same work: read all weights and batchSize · context tokens of KV.
 * By default the steps are chained as the engine chains them ({@link CudaBackend#forwardSampleAsync}): each
 * step is enqueued with its tokens fed on the GPU from the step before, then the step before's ids are read;
 * a step's time is that of one such round on the host, in the steady state the GPU's time per step.
 * With -Dradixlm.bench.chained=false each step is timed from enqueue to its ids being back ({@link CudaBackend#forwardGreedy}).
 */
final class DecodeBench {
    static final int PAGE_SIZE = 16;
    private static final int WARMUP_STEPS = 5;
    static final boolean CHAINED = !"false".equals(System.getProperty("radixlm.bench.chained"));

    private DecodeBench() { }

    /** A backend with random weights and random KV pages enough for maxBatch sequences of maxContext tokens. */
    static CudaBackend backend(ModelConfig config, int maxBatch, int maxContext) {
        CudaBackend gpu = CudaBackend.withRandomWeights(config, 1234, 0.95);
        try {
            gpu.allocateKvCache(maxBatch * pagesFor(maxContext), PAGE_SIZE);
            gpu.fillKvCacheRandom(99);
            return gpu;
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    /** Times steps decode steps of batchSize sequences at context tokens each. */
    static Measurement run(String item, String shape, CudaBackend gpu, int batchSize, int context, int steps,
                           Ceilings ceilings) {
        ModelConfig c = gpu.config();
        int[][] tables = tables(batchSize, context);
        int[][] next = {tokens(c, batchSize, context)};
        double millis;
        if (CHAINED) {
            SamplingParams[] greedy = new SamplingParams[batchSize];
            Arrays.fill(greedy, SamplingParams.greedy(1));
            int[] fed = new int[batchSize];
            for (int r = 0; r < batchSize; r++) fed[r] = Backend.fedId(r);
            ForwardBatch fedBatch = batch(tables, fed, context);
            PendingIds[] inFlight = {gpu.forwardSampleAsync(batch(tables, next[0], context), greedy, new int[batchSize], null)};
            millis = Timing.medianHostMillis(WARMUP_STEPS, steps, () -> {
                PendingIds ahead = gpu.forwardSampleAsync(fedBatch, greedy, new int[batchSize], inFlight[0]);
                inFlight[0].await();
                inFlight[0] = ahead;
            });
            next[0] = inFlight[0].await();
        } else {
            millis = Timing.medianHostMillis(WARMUP_STEPS, steps,
                    () -> next[0] = gpu.forwardGreedy(batch(tables, next[0], context)));
        }
        for (int id : next[0]) {
            if (id < 0 || id >= c.vocabSize()) throw new IllegalStateException("decode produced token id " + id);
        }
        long bytes = StepCost.decodeBytesPerStep(c, batchSize, context);
        double bytesPerSecond = bytes / (millis / 1e3);
        double tokensPerSecond = batchSize / (millis / 1e3);
        double roofline = bytesPerSecond / ceilings.copyBytesPerSecond();
        ObjectNode json = JsonNodeFactory.instance.objectNode()
                .put("shape", shape).put("batch", batchSize).put("context", context).put("steps", steps)
                .put("ms_per_step", millis).put("tokens_per_s", tokensPerSecond)
                .put("bytes_per_step", bytes).put("weight_bytes_per_step", StepCost.weightBytesPerStep(c, batchSize))
                .put("kv_bytes_per_step", StepCost.kvBytesPerStep(c, batchSize, context))
                .put("bandwidth_bytes_per_s", bytesPerSecond).put("roofline_fraction", roofline)
                .put("graphs", batchSize <= CudaBackend.MAX_GRAPH_BATCH).put("chained", CHAINED);
        String summary = String.format("%,.0f tok/s, %.3f ms/step, %.2f GB/step, %.1f%% of bandwidth roofline",
                tokensPerSecond, millis, bytes / 1e9, 100 * roofline);
        String label = shape + (item.equals("decode_b1") ? ", context " + context : ", batch " + batchSize + ", context " + context);
        return new Measurement(item, label, summary, json);
    }

    /** Sequence s owns pages [s · pagesPerSeq, (s + 1) · pagesPerSeq). */
    static int[][] tables(int batchSize, int context) {
        int pagesPerSeq = pagesFor(context);
        int[][] tables = new int[batchSize][];
        for (int s = 0; s < batchSize; s++) tables[s] = ForwardBatchBuilder.consecutivePages(s * pagesPerSeq, pagesPerSeq);
        return tables;
    }

    /** Random first tokens of the batch's sequences (seeded by the case). */
    static int[] tokens(ModelConfig c, int batchSize, int context) {
        SplittableRandom random = new SplittableRandom(batchSize * 31L + context);
        int[] tokens = new int[batchSize];
        for (int s = 0; s < batchSize; s++) tokens[s] = random.nextInt(c.vocabSize());
        return tokens;
    }

    static int pagesFor(int context) { return ForwardBatchBuilder.pagesFor(context, PAGE_SIZE); }

    /** Every sequence's new token sits at position context - 1 and attends over [0, context). */
    static ForwardBatch batch(int[][] tables, int[] tokens, int context) {
        int[] positions = new int[tables.length];
        Arrays.fill(positions, context - 1);
        return ForwardBatchBuilder.decode(tokens, positions, tables, PAGE_SIZE);
    }
}
