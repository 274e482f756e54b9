package io.radixlm.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorNamesTest {
    @TempDir
    Path dir;

    private static ModelConfig config(String json) throws Exception {
        return ConfigLoader.parse(new ObjectMapper().readTree(json), null);
    }

    /** A tiny config of the given type: hidden 8, 2 layers, 4 heads of 4 (explicit head_dim), 2 kv heads. */
    static ModelConfig tiny(String modelType, boolean tied) throws Exception {
        return config("{\"model_type\": \"" + modelType + "\", \"hidden_size\": 8, \"intermediate_size\": 12,"
                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 4,"
                + " \"vocab_size\": 10, \"tie_word_embeddings\": " + tied + "}");
    }

    @Test
    void llamaNamesAndCount() throws Exception {
        List<String> names = TensorNames.required(tiny("llama", false));
        assertEquals(1 + 2 * 9 + 1 + 1, names.size());
        assertTrue(names.containsAll(List.of("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                "model.layers.0.input_layernorm.weight", "model.layers.1.self_attn.q_proj.weight",
                "model.layers.1.self_attn.k_proj.weight", "model.layers.1.self_attn.v_proj.weight",
                "model.layers.1.self_attn.o_proj.weight", "model.layers.0.post_attention_layernorm.weight",
                "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
                "model.layers.1.mlp.down_proj.weight")));
        assertFalse(names.stream().anyMatch(n -> n.endsWith(".bias") || n.contains("_norm.")));
    }

    @Test
    void tiedModelsHaveNoLmHead() throws Exception {
        assertFalse(TensorNames.required(tiny("llama", true)).contains("lm_head.weight"));
    }

    @Test
    void qwen2AddsQkvBiasesQwen3AddsQkNorms() throws Exception {
        List<String> qwen2 = TensorNames.required(tiny("qwen2", false));
        assertTrue(qwen2.containsAll(List.of("model.layers.0.self_attn.q_proj.bias",
                "model.layers.0.self_attn.k_proj.bias", "model.layers.1.self_attn.v_proj.bias")));
        assertFalse(qwen2.contains("model.layers.0.self_attn.o_proj.bias"));
        List<String> qwen3 = TensorNames.required(tiny("qwen3", false));
        assertTrue(qwen3.containsAll(List.of("model.layers.0.self_attn.q_norm.weight",
                "model.layers.1.self_attn.k_norm.weight")));
        assertFalse(qwen3.stream().anyMatch(n -> n.endsWith(".bias")));
    }

    @Test
    void validateAcceptsAMatchingFileAndNamesTheWrongTensor() throws Exception {
        ModelConfig c = tiny("qwen2", false);
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        for (TensorNames.Expected e : TensorNames.expectedShapes(c)) {
            long[] shape = e.shape();
            if (e.name().equals("model.layers.1.self_attn.k_proj.weight")) shape = new long[] {16, 8}; // q's shape
            int n = 1;
            for (long d : shape) n *= (int) d;
            tensors.add(new SafetensorsWriter.Tensor(e.name(), DType.BF16, shape, new float[n]));
        }
        // The expected shapes themselves, spelled out from the HF modules (nn.Linear(in, out) stores [out, in]).
        Map<String, List<Long>> spot = Map.of(
                "model.layers.0.self_attn.q_proj.weight", List.of(16L, 8L),
                "model.layers.0.self_attn.k_proj.weight", List.of(8L, 8L),
                "model.layers.0.self_attn.o_proj.weight", List.of(8L, 16L),
                "model.layers.0.self_attn.v_proj.bias", List.of(8L),
                "model.layers.0.mlp.down_proj.weight", List.of(8L, 12L),
                "model.embed_tokens.weight", List.of(10L, 8L));
        for (TensorNames.Expected e : TensorNames.expectedShapes(c)) {
            if (spot.containsKey(e.name())) {
                assertEquals(spot.get(e.name()), Arrays.stream(e.shape()).boxed().toList(), e.name());
            }
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        try (SafetensorsWeights w = SafetensorsWeights.open(dir)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> TensorNames.validate(c, w));
            assertEquals("tensor model.layers.1.self_attn.k_proj.weight has shape [16, 8], expected [8, 8] from config.json",
                    e.getMessage());
        }
        tensors.removeIf(t -> t.name().equals("model.layers.1.self_attn.k_proj.weight"));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        try (SafetensorsWeights w = SafetensorsWeights.open(dir)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> TensorNames.validate(c, w));
            assertEquals("model is missing tensor model.layers.1.self_attn.k_proj.weight", e.getMessage());
        }
        tensors.add(new SafetensorsWriter.Tensor("model.layers.1.self_attn.k_proj.weight", DType.BF16,
                new long[] {8, 8}, new float[64]));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        try (SafetensorsWeights w = SafetensorsWeights.open(dir)) {
            TensorNames.validate(c, w);
        }
    }
}
