package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.cuda.CudaBackend;
import io.radixlm.cuda.OpTimeline;
import io.radixlm.model.ModelConfig;

import java.util.Map;

/**
 * Item 8: where the GPU time of one step goes, op by op ({@link CudaBackend#profile}: CUDA events
 * between the ops of a captured step, median of replays). For each op: milliseconds (summed over the
 * layers), its share of the step, and for the weight GEMMs the bytes of weights read ÷ time ÷ the
 * copy bandwidth (what matters at decode, where a GEMM is a matrix-vector product).
 */
final class ProfileBench {
    private static final int REPLAYS = 9;

    private ProfileBench() { }

    /** A decode step of batchSize sequences at context tokens each (random KV), as item 1 runs it. */
    static Measurement decode(String shape, CudaBackend gpu, int batchSize, int context, Ceilings ceilings) {
        ForwardBatch batch = DecodeBench.batch(DecodeBench.tables(batchSize, context), DecodeBench.tokens(gpu.config(),
                batchSize, context), context);
        return report("decode, " + shape + ", batch " + batchSize + ", context " + context, gpu, batch, ceilings);
    }

    /** A prefill of n tokens from position 0 (item 4's step). */
    static Measurement prefill(String shape, CudaBackend gpu, int n, Ceilings ceilings) {
        return report("prefill, " + shape + ", " + n + " tokens", gpu,
                PrefillBench.promptBatch(n, gpu.config().vocabSize()), ceilings);
    }

    /** The step of a prefix hit: newTokens new tokens after cached tokens of the same sequence (item 5's hit). */
    static Measurement prefixHit(String shape, CudaBackend gpu, int cached, int newTokens, Ceilings ceilings) {
        ForwardBatch whole = PrefillBench.promptBatch(cached + newTokens, gpu.config().vocabSize());
        ForwardBatch batch = new ForwardBatchBuilder(DecodeBench.PAGE_SIZE)
                .addChunk(whole.tokenIds(), cached, cached + newTokens, whole.blockTables()[0]).buildLastRows();
        return report("prefix hit, " + shape + ", " + newTokens + " new tokens after " + cached + " cached", gpu, batch,
                ceilings);
    }

    private static Measurement report(String label, CudaBackend gpu, ForwardBatch batch, Ceilings ceilings) {
        Map<String, OpTimeline.OpTime> ops = gpu.profile(batch, REPLAYS);
        double total = ops.values().stream().mapToDouble(OpTimeline.OpTime::millis).sum();
        ModelConfig c = gpu.config();
        ObjectNode json = JsonNodeFactory.instance.objectNode().put("case", label).put("step_ms", total);
        ArrayNode rows = json.putArray("ops");
        StringBuilder table = new StringBuilder(String.format("step %.3f ms on the GPU", total));
        for (Map.Entry<String, OpTimeline.OpTime> e : ops.entrySet()) {
            double ms = e.getValue().millis();
            ObjectNode row = rows.addObject().put("op", e.getKey()).put("calls", e.getValue().calls())
                    .put("ms", ms).put("share", ms / total);
            long weightBytes = weightBytes(c, e.getKey());
            String bandwidth = "";
            if (weightBytes > 0) {
                double fraction = weightBytes / (ms / 1e3) / ceilings.copyBytesPerSecond();
                row.put("weight_bytes", weightBytes).put("weight_bandwidth_fraction", fraction);
                bandwidth = String.format(", weights at %.0f%% of bandwidth", 100 * fraction);
            }
            table.append(String.format("%n    %-18s %8.3f ms %5.1f%% (%d calls%s)", e.getKey(), ms, 100 * ms / total,
                    e.getValue().calls(), bandwidth));
        }
        return new Measurement("profile", label, table.toString(), json);
    }

    /** Bytes of bf16 weights the named op reads over all layers in one step (0 for ops that are not weight GEMMs). */
    static long weightBytes(ModelConfig c, String op) {
        long h = c.hiddenSize();
        long layers = c.numLayers();
        return 2 * switch (op) {
            case "qkv_proj" -> layers * h * (c.qDim() + 2L * c.kvDim());
            case "o_proj" -> layers * h * c.qDim();
            case "gate_up_proj" -> layers * h * 2L * c.intermediateSize();
            case "down_proj" -> layers * h * c.intermediateSize();
            case "lm_head" -> h * c.vocabSize();
            default -> 0L;
        };
    }
}
