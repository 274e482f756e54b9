package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The goals object takes each fraction from the case issue 4 names, and is null where that case did not run. */
class BenchReportTest {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private static Measurement m(String item, ObjectNode json) { return new Measurement(item, "case", "summary", json); }

    @Test
    void goalsComeFromTheNamedCases() {
        List<Measurement> ms = List.of(
                m("decode_b1", F.objectNode().put("shape", ModelShapes.LLAMA_1B).put("roofline_fraction", 0.31)),
                m("decode_b1", F.objectNode().put("shape", ModelShapes.LLAMA_8B).put("roofline_fraction", 0.52)),
                m("decode_attention", F.objectNode().put("shape", ModelShapes.LLAMA_8B).put("batch", 32).put("context", 8192)
                        .put("bandwidth_fraction", 0.9)),
                m("decode_attention", F.objectNode().put("shape", ModelShapes.LLAMA_8B).put("batch", 1).put("context", 32768)
                        .put("bandwidth_fraction", 0.4)),
                m("prefill", F.objectNode().put("shape", ModelShapes.LLAMA_8B).put("tokens", 2048).put("mfu", 0.5)),
                m("prefill", F.objectNode().put("shape", ModelShapes.LLAMA_8B).put("tokens", 8192).put("mfu", 0.6)),
                m("prefix_hit", F.objectNode().put("shape", ModelShapes.LLAMA_1B).put("hit_ttft_ratio", 0.2)));
        BenchReport report = new BenchReport("GPU", "today", new BenchOptions(Set.of(1, 3, 4), false, 10),
                new Ceilings(4e12, 8e14), ms, F.arrayNode(), F.arrayNode(), 1);
        JsonNode goals = report.toJson().get("goals");
        assertEquals(0.52, goals.get("decode_b1_8b_roofline").asDouble());
        assertEquals(0.31, goals.get("decode_b1_1b_roofline").asDouble());
        assertEquals(0.4, goals.get("decode_attn_bw_long").asDouble());
        assertEquals(0.6, goals.get("prefill_8k_8b_mfu").asDouble());
        // the goal is the 8B shape's; only the 1B shape's hit ran
        for (String absent : List.of("prefix_hit_ttft_ratio", "vs_pytorch_decode_b1", "vs_pytorch_prefill_8k",
                "vs_pytorch_nanovllm_workload")) {
            assertTrue(goals.get(absent).isNull(), absent);
        }
        assertEquals(8, goals.size());
        assertEquals(2, report.toJson().get("results").get("decode_b1").size());
        assertEquals("[1,3,4]", report.toJson().get("items_run").toString());
    }

    @Test
    void itemsAreParsedAndChecked() {
        assertEquals(Set.of(1, 4, 6), BenchOptions.parseItems(" 6, 1,4 "));
        assertThrows(IllegalArgumentException.class, () -> new BenchOptions(Set.of(0), false, 1));
        assertThrows(IllegalArgumentException.class, () -> new BenchOptions(Set.of(1), false, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> BenchOptions.parseItems("1;2"));
    }
}
