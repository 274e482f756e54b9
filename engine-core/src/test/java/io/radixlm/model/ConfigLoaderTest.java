package io.radixlm.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Configs typed from the public hub repositories' config.json files. */
class ConfigLoaderTest {
    static final String LLAMA_3_2_1B = """
            {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
             "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
             "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
             "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
             "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
             "rms_norm_eps": 1e-05,
             "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                              "original_max_position_embeddings": 8192, "rope_type": "llama3"},
             "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
             "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256}
            """;

    static final String QWEN2_5_0_5B = """
            {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
             "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
             "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
             "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
             "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
             "torch_dtype": "bfloat16", "transformers_version": "4.43.1", "use_cache": true,
             "use_sliding_window": false, "vocab_size": 151936}
            """;

    static final String QWEN3_0_6B = """
            {"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
             "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
             "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
             "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
             "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
             "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true,
             "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": true,
             "use_sliding_window": false, "vocab_size": 151936}
            """;

    static final String MISTRAL_7B = """
            {"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
             "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
             "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
             "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
             "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000}
            """;

    /** Llama 3.2 1B as transformers 5 saves it: rope_parameters carries theta, "dtype" replaces torch_dtype. */
    static final String LLAMA_3_2_1B_TRANSFORMERS_5 = """
            {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
             "dtype": "bfloat16", "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
             "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
             "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
             "rope_parameters": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                 "original_max_position_embeddings": 8192, "rope_theta": 500000.0,
                                 "rope_type": "llama3"},
             "tie_word_embeddings": true, "transformers_version": "5.0.0", "vocab_size": 128256}
            """;

    /** llama2.c's stories15M in HF form: no head_dim, no num_key_value_heads, no rope settings. */
    static final String STORIES_15M = """
            {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
             "hidden_size": 288, "intermediate_size": 768, "max_position_embeddings": 256, "model_type": "llama",
             "num_attention_heads": 6, "num_hidden_layers": 6, "rms_norm_eps": 1e-05, "vocab_size": 32000}
            """;

    @TempDir
    Path dir;

    private ModelConfig load(String config) throws Exception {
        Files.writeString(dir.resolve("config.json"), config);
        return ConfigLoader.load(dir);
    }

    private ModelFormatException rejected(String config) throws Exception {
        Files.writeString(dir.resolve("config.json"), config);
        return assertThrows(ModelFormatException.class, () -> ConfigLoader.load(dir));
    }

    @Test
    void llama32WithLlama3RopeScalingAndGqa() throws Exception {
        ModelConfig c = load(LLAMA_3_2_1B);
        assertEquals("llama", c.modelType());
        assertEquals(2048, c.hiddenSize());
        assertEquals(8192, c.intermediateSize());
        assertEquals(16, c.numLayers());
        assertEquals(32, c.numHeads());
        assertEquals(8, c.numKvHeads());
        assertEquals(64, c.headDim());
        assertEquals(128256, c.vocabSize());
        assertEquals(131072, c.maxPositionEmbeddings());
        assertEquals(1e-5, c.rmsNormEps());
        assertEquals(new RopeConfig("llama3", 500000.0, 32.0, 1.0, 4.0, 8192), c.rope());
        assertTrue(c.tieWordEmbeddings());
        assertFalse(c.attentionBias());
        assertFalse(c.qkNorm());
        assertEquals(128000, c.bosTokenId());
        assertEquals(List.of(128001), c.eosTokenIds());
        assertEquals("bfloat16", c.torchDtype());
    }

    @Test
    void transformers5RopeParametersGiveTheSameConfig() throws Exception {
        assertEquals(load(LLAMA_3_2_1B), load(LLAMA_3_2_1B_TRANSFORMERS_5));
        ModelConfig c = load(QWEN3_0_6B.replace("\"rope_scaling\": null, \"rope_theta\": 1000000,",
                "\"rope_parameters\": {\"rope_theta\": 1000000.0, \"rope_type\": \"default\"},"));
        assertEquals(RopeConfig.defaultRope(1e6), c.rope());
    }

    @Test
    void generationConfigWinsForEosAndBos() throws Exception {
        // Llama-3.2-1B-Instruct's generation_config.json lists three stop ids.
        Files.writeString(dir.resolve("generation_config.json"),
                "{\"bos_token_id\": 128000, \"do_sample\": true, \"eos_token_id\": [128001, 128008, 128009],"
                        + " \"temperature\": 0.6, \"top_p\": 0.9, \"transformers_version\": \"4.45.0.dev0\"}");
        ModelConfig c = load(LLAMA_3_2_1B);
        assertEquals(List.of(128001, 128008, 128009), c.eosTokenIds());
        assertEquals(128000, c.bosTokenId());
        Files.writeString(dir.resolve("generation_config.json"), "{\"bos_token_id\": 7, \"eos_token_id\": 9}");
        ModelConfig d = load(LLAMA_3_2_1B);
        assertEquals(List.of(9), d.eosTokenIds());
        assertEquals(7, d.bosTokenId());
        Files.writeString(dir.resolve("generation_config.json"), "{\"do_sample\": true}");
        assertEquals(List.of(128001), load(LLAMA_3_2_1B).eosTokenIds()); // absent there: config.json's
    }

    @Test
    void qwen2HasQkvBias() throws Exception {
        ModelConfig c = load(QWEN2_5_0_5B);
        assertTrue(c.attentionBias());
        assertFalse(c.qkNorm());
        assertEquals(64, c.headDim()); // 896 / 14
        assertEquals(2, c.numKvHeads());
        assertEquals(RopeConfig.defaultRope(1e6), c.rope());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(1e-6, c.rmsNormEps());
    }

    @Test
    void qwen3HasQkNormAndExplicitHeadDim() throws Exception {
        ModelConfig c = load(QWEN3_0_6B);
        assertTrue(c.qkNorm());
        assertFalse(c.attentionBias());
        assertEquals(128, c.headDim()); // not 1024 / 16
        assertEquals(2048, c.qDim());
        assertEquals(RopeConfig.defaultRope(1e6), c.rope()); // integer rope_theta accepted
    }

    @Test
    void mistralUntied() throws Exception {
        ModelConfig c = load(MISTRAL_7B);
        assertEquals("mistral", c.modelType());
        assertFalse(c.tieWordEmbeddings());
        assertFalse(c.attentionBias());
        assertEquals(128, c.headDim());
        assertEquals(4, c.groupSize());
        assertEquals(RopeConfig.defaultRope(10000), c.rope());
        assertEquals(1, c.bosTokenId());
        assertEquals(List.of(2), c.eosTokenIds());
    }

    @Test
    void defaultsWhenFieldsAreOmitted() throws Exception {
        ModelConfig c = load(STORIES_15M);
        assertEquals(6, c.numKvHeads());
        assertEquals(48, c.headDim());
        assertEquals(RopeConfig.defaultRope(10000), c.rope());
        assertFalse(c.tieWordEmbeddings());
        assertEquals("unknown", c.torchDtype());
    }

    @Test
    void llamaAttentionBiasIsHonoured() throws Exception {
        ModelConfig c = load(LLAMA_3_2_1B.replace("\"attention_bias\": false", "\"attention_bias\": true"));
        assertTrue(c.attentionBias());
        assertTrue(TensorNames.hasOutputBias(c));
    }

    @Test
    void olderRopeScalingWithTypeKey() throws Exception {
        ModelConfig c = load(LLAMA_3_2_1B.replace("\"rope_type\": \"llama3\"", "\"type\": \"llama3\""));
        assertEquals("llama3", c.rope().type());
        ModelFormatException e = rejected(LLAMA_3_2_1B.replace("\"rope_type\": \"llama3\"", "\"type\": \"linear\""));
        assertTrue(e.getMessage().contains("unsupported rope_scaling type 'linear' (supported: default, llama3)"),
                e.getMessage());
        e = rejected(LLAMA_3_2_1B.replace("\"low_freq_factor\": 1.0,", ""));
        assertTrue(e.getMessage().contains("needs a number low_freq_factor"), e.getMessage());
    }

    @Test
    void unsupportedArchitecture() throws Exception {
        ModelFormatException e = rejected(STORIES_15M.replace("\"llama\"", "\"gemma\""));
        assertTrue(e.getMessage().endsWith("unsupported architecture 'gemma' (supported: llama, mistral, qwen2, qwen3)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("config.json"));
    }

    @Test
    void missingOrInvalidConfig() throws Exception {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ConfigLoader.load(dir));
        assertTrue(e.getMessage().contains("config.json: not found"), e.getMessage());
        assertTrue(rejected("{\"model_type\": ").getMessage().contains("not valid JSON"));
        assertTrue(rejected("[]").getMessage().contains("not a JSON object"));
        assertTrue(rejected(STORIES_15M.replace("\"hidden_size\": 288,", "")).getMessage().contains("missing hidden_size"));
        assertTrue(rejected(STORIES_15M.replace("\"hidden_size\": 288", "\"hidden_size\": \"288\""))
                .getMessage().contains("hidden_size must be an integer"));
        assertTrue(rejected(STORIES_15M.replace("\"num_hidden_layers\": 6,", "\"num_hidden_layers\": 6,"
                + " \"num_key_value_heads\": 4,")).getMessage().contains("num_key_value_heads must divide"));
        assertTrue(rejected(STORIES_15M.replace("\"silu\"", "\"gelu\"")).getMessage().contains("unsupported hidden_act"));
        assertTrue(rejected(STORIES_15M.replace("\"bos_token_id\": 1", "\"bos_token_id\": -3"))
                .getMessage().contains("not a token id"));
    }
}
