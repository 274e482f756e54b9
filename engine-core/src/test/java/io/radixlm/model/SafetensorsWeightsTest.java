package io.radixlm.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsWeightsTest {
    @TempDir
    Path dir;

    private static SafetensorsWriter.Tensor tensor(String name, DType dtype, float... values) {
        return new SafetensorsWriter.Tensor(name, dtype, new long[] {values.length}, values);
    }

    private void writeShards() throws Exception {
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"),
                List.of(tensor("model.embed_tokens.weight", DType.BF16, 1, 2), tensor("a", DType.F32, 0.25f)), Map.of());
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"),
                List.of(tensor("lm_head.weight", DType.F16, 3, 4, 5)), Map.of());
    }

    private void writeIndex(String weightMap) throws Exception {
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"metadata\": {\"total_size\": 18}, \"weight_map\": {" + weightMap + "}}");
    }

    @Test
    void singleFile() throws Exception {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(tensor("x", DType.F32, 1, 2, 3)), Map.of());
        try (SafetensorsWeights w = SafetensorsWeights.open(dir)) {
            assertTrue(w.contains("x"));
            assertFalse(w.contains("y"));
            assertEquals(DType.F32, w.dtype("x"));
            assertArrayEquals(new long[] {3}, w.shape("x"));
            assertArrayEquals(new float[] {1, 2, 3}, w.readFloats("x"));
        }
    }

    @Test
    void shardsNamedByTheIndex() throws Exception {
        writeShards();
        writeIndex("\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\","
                + "\"a\": \"model-00001-of-00002.safetensors\","
                + "\"lm_head.weight\": \"model-00002-of-00002.safetensors\"");
        try (SafetensorsWeights w = SafetensorsWeights.open(dir)) {
            assertEquals(List.of("model.embed_tokens.weight", "a", "lm_head.weight"), List.copyOf(w.names()));
            assertArrayEquals(new float[] {1, 2}, w.readFloats("model.embed_tokens.weight"));
            assertArrayEquals(new float[] {0.25f}, w.readFloats("a"));
            assertArrayEquals(new float[] {3, 4, 5}, w.readFloats("lm_head.weight"));
            assertEquals(DType.F16, w.dtype("lm_head.weight"));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> w.readFloats("nope"));
            assertTrue(e.getMessage().contains("nope"));
        }
    }

    @Test
    void indexPointingAtWrongShardIsRejected() throws Exception {
        writeShards();
        writeIndex("\"lm_head.weight\": \"model-00001-of-00002.safetensors\"");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir));
        assertTrue(e.getMessage().contains("puts lm_head.weight in model-00001-of-00002.safetensors, which has no such tensor"),
                e.getMessage());
    }

    @Test
    void missingOrEscapingShardIsRejected() throws Exception {
        writeShards();
        writeIndex("\"a\": \"model-00003-of-00003.safetensors\"");
        assertTrue(assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir)).getMessage()
                .contains("shard model-00003-of-00003.safetensors does not exist"));
        writeIndex("\"a\": \"../elsewhere.safetensors\"");
        assertTrue(assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir)).getMessage()
                .contains("is not a file in"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\": {}}");
        assertTrue(assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir)).getMessage()
                .contains("no weight_map"));
    }

    @Test
    void directoryWithoutWeights() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir));
        assertTrue(e.getMessage().contains("no model.safetensors or model.safetensors.index.json"), e.getMessage());
    }
}
