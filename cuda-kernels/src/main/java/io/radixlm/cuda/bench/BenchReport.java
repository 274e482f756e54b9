package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.function.Predicate;

/**
 * What one `radixlm bench` run measured: the ceilings, every case, the cases that failed or were
 * skipped, and the goals of issue 4 as fractions (null where the item did not run; the vs_pytorch_*
 * ones are filled in by scripts/device-bench, which runs the PyTorch peer in the same device call).
 */
public record BenchReport(String gpu, String date, BenchOptions options, Ceilings ceilings,
                          List<Measurement> measurements, ArrayNode errors, ArrayNode skipped, double wallSeconds) {

    public ObjectNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("gpu", gpu).put("date", date).put("quick", options.quick()).put("max_seconds", options.maxSeconds());
        ArrayNode items = root.putArray("items_run");
        for (int item : options.items()) items.add(item);
        ObjectNode c = root.putObject("ceilings");
        if (ceilings != null) {
            c.put("copy_bytes_per_s", ceilings.copyBytesPerSecond()).put("gemm_bf16_flops_per_s", ceilings.gemmFlopsPerSecond());
        }
        ObjectNode results = root.putObject("results");
        for (Measurement m : measurements) {
            ArrayNode list = results.has(m.item()) ? (ArrayNode) results.get(m.item()) : results.putArray(m.item());
            list.add(m.json().deepCopy().put("case", m.label()));
        }
        root.set("errors", errors);
        root.set("skipped", skipped);
        root.put("wall_seconds", wallSeconds);
        root.set("goals", goals());
        return root;
    }

    /** Issue 4's goals as fractions, from what ran. */
    public ObjectNode goals() {
        ObjectNode g = JsonNodeFactory.instance.objectNode();
        putOrNull(g, "decode_b1_8b_roofline", find("decode_b1", j -> shape(j, ModelShapes.LLAMA_8B), "roofline_fraction"));
        putOrNull(g, "decode_b1_1b_roofline", find("decode_b1", j -> shape(j, ModelShapes.LLAMA_1B), "roofline_fraction"));
        putOrNull(g, "decode_attn_bw_long", find("decode_attention",
                j -> shape(j, ModelShapes.LLAMA_8B) && j.path("batch").asInt() == 1 && j.path("context").asInt() == 32768,
                "bandwidth_fraction"));
        putOrNull(g, "prefill_8k_8b_mfu", find("prefill",
                j -> shape(j, ModelShapes.LLAMA_8B) && j.path("tokens").asInt() == 8192, "mfu"));
        putOrNull(g, "prefix_hit_ttft_ratio", find("prefix_hit", j -> shape(j, ModelShapes.LLAMA_8B), "hit_ttft_ratio"));
        g.putNull("vs_pytorch_decode_b1");
        g.putNull("vs_pytorch_prefill_8k");
        g.putNull("vs_pytorch_nanovllm_workload");
        return g;
    }

    private static boolean shape(JsonNode json, String shape) { return shape.equals(json.path("shape").asText()); }

    private Double find(String item, Predicate<JsonNode> which, String field) {
        for (Measurement m : measurements) {
            if (m.item().equals(item) && which.test(m.json()) && m.json().has(field)) return m.json().get(field).asDouble();
        }
        return null;
    }

    private static void putOrNull(ObjectNode node, String key, Double value) {
        if (value == null) node.putNull(key);
        else node.put(key, value);
    }

    /** The human table. */
    public String toText() {
        StringBuilder out = new StringBuilder();
        out.append(String.format("radixlm bench on %s, %s%s (%.0f s)%n", gpu, date, options.quick() ? ", --quick" : "", wallSeconds));
        if (ceilings != null) {
            out.append(String.format("ceilings: device-to-device copy %.2f TB/s (read + write), bf16 GEMM %.0f TFLOP/s (8192³)%n",
                    ceilings.copyBytesPerSecond() / 1e12, ceilings.gemmFlopsPerSecond() / 1e12));
        }
        out.append(String.format("%-16s | %-52s | %s%n", "item", "case", "result"));
        out.append("-".repeat(16)).append("-+-").append("-".repeat(52)).append("-+-").append("-".repeat(60)).append('\n');
        for (Measurement m : measurements) out.append(String.format("%-16s | %-52s | %s%n", m.item(), m.label(), m.summary()));
        for (JsonNode e : errors) {
            out.append(String.format("%-16s | %-52s | FAILED: %s%n", e.path("item").asText(), e.path("case").asText(),
                    e.path("error").asText()));
        }
        for (JsonNode s : skipped) out.append("skipped (time limit): ").append(s.asText()).append('\n');
        out.append("goals (fractions): ").append(goals()).append('\n');
        return out.toString();
    }
}
