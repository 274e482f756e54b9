package io.radixlm.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The real install: the header the issue quotes for stories15M must come out as config.json. */
class Stories15MInstallTest {
    @Test
    void installedModelHasTheQuotedArchitectureAndIsReusedOnTheSecondCall() throws IOException {
        Path home = ModelInstaller.defaultHome();
        Path dir = ModelInstaller.ensureStories15M(home, System.out::println);
        assertEquals(dir, ModelInstaller.ensureStories15M(home, s -> fail("already installed, yet: " + s)));
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        assertEquals(288, cfg.get("hidden_size").asInt());
        assertEquals(768, cfg.get("intermediate_size").asInt());
        assertEquals(6, cfg.get("num_hidden_layers").asInt());
        assertEquals(6, cfg.get("num_attention_heads").asInt());
        assertEquals(6, cfg.get("num_key_value_heads").asInt());
        assertEquals(32000, cfg.get("vocab_size").asInt());
        assertEquals(256, cfg.get("max_position_embeddings").asInt());
        assertTrue(cfg.get("tie_word_embeddings").asBoolean());
        for (String f : new String[] {"model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "generation_config.json", ModelInstaller.MARKER}) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        // 15,191,712 float32 weights (the 60,816,000 payload bytes minus the unused RoPE tables) + header.
        long payload = Files.size(dir.resolve("model.safetensors"));
        assertTrue(payload > 4L * 15_191_712 && payload < 4L * 15_191_712 + 16_384, "size " + payload);
    }
}
