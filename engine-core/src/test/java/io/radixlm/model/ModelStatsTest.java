package io.radixlm.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ModelStatsTest {
    @TempDir
    Path dir;

    private ModelConfig load(String json) throws Exception {
        Files.writeString(dir.resolve("config.json"), json);
        return ConfigLoader.load(dir);
    }

    @Test
    void llama32ParameterCountMatchesThePublishedFigure() throws Exception {
        // The hub lists Llama-3.2-1B at 1,235,814,400 parameters (tied embedding counted once).
        ModelStats s = ModelStats.fromConfig(load(ConfigLoaderTest.LLAMA_3_2_1B), 2);
        assertEquals(1_235_814_400L, s.parameterCount());
        // bf16 KV: 2 × 16 layers × 8 kv heads × 64 × 2 bytes = 32 KiB per token.
        assertEquals(32_768L, s.kvBytesPerToken());
        assertEquals(32_768L * 8192 * 4, s.kvBytes(8192, 4));
    }

    @Test
    void qwen3NonEmbeddingCountMatchesThePublishedFigure() throws Exception {
        // Qwen3-0.6B's model card: 0.44B non-embedding parameters; embedding 151936 × 1024, tied.
        ModelStats s = ModelStats.fromConfig(load(ConfigLoaderTest.QWEN3_0_6B), 2);
        long nonEmbedding = s.parameterCount() - 151_936L * 1024;
        assertEquals(0.44e9, nonEmbedding, 0.005e9);
    }

    @Test
    void countFromFileShapesAgreesWithConfig() throws Exception {
        ModelConfig c = TensorNamesTest.tiny("qwen3", false);
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        long total = 0;
        for (TensorNames.Expected e : TensorNames.expectedShapes(c)) {
            int n = 1;
            for (long d : e.shape()) n *= (int) d;
            total += n;
            tensors.add(new SafetensorsWriter.Tensor(e.name(), DType.F16, e.shape(), new float[n]));
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());
        try (SafetensorsWeights w = SafetensorsWeights.open(dir)) {
            ModelStats fromFile = ModelStats.of(c, w, 4);
            assertEquals(total, fromFile.parameterCount());
            assertEquals(ModelStats.fromConfig(c, 4), fromFile);
            assertEquals(2L * 2 * 2 * 4 * 4, fromFile.kvBytesPerToken()); // 2 × layers × kv heads × head_dim × 4 bytes
        }
    }
}
