package io.radixlm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads config.json (and generation_config.json, whose bos/eos win) of a Hugging Face model
 * directory into a {@link ModelConfig}. Defaults follow transformers' config classes where a field
 * is omitted; anything the engine cannot run is refused here with a message, not at the first matmul.
 */
public final class ConfigLoader {
    private static final Set<String> SUPPORTED = Set.of("llama", "mistral", "qwen2", "qwen3");

    private ConfigLoader() {}

    public static ModelConfig load(Path modelDir) {
        Path configFile = modelDir.resolve("config.json");
        JsonNode config = readObject(configFile, true);
        Path generationFile = modelDir.resolve("generation_config.json");
        JsonNode generation = readObject(generationFile, false);
        try {
            return parse(config, generation);
        } catch (ModelFormatException e) {
            String problem = e.getMessage().replaceFirst("^config\\.json: ", "");
            throw new ModelFormatException(configFile + ": " + problem, e);
        }
    }

    /** config.json (and optionally generation_config.json) already parsed; generation may be null. */
    public static ModelConfig parse(JsonNode config, JsonNode generation) {
        String modelType = text(config, "model_type", null);
        if (modelType == null) throw new ModelFormatException("config.json: no model_type");
        if (!SUPPORTED.contains(modelType)) {
            throw new ModelFormatException("config.json: unsupported architecture '" + modelType
                    + "' (supported: llama, mistral, qwen2, qwen3)");
        }
        refuseUnsupportedFeatures(config, modelType);
        int hidden = requiredInt(config, "hidden_size");
        int numHeads = requiredInt(config, "num_attention_heads");
        if (numHeads <= 0) throw new ModelFormatException("config.json: num_attention_heads must be positive");
        int headDim = optionalInt(config, "head_dim", hidden / numHeads);
        return new ModelConfig(
                modelType,
                hidden,
                requiredInt(config, "intermediate_size"),
                requiredInt(config, "num_hidden_layers"),
                numHeads,
                optionalInt(config, "num_key_value_heads", numHeads),
                headDim,
                requiredInt(config, "vocab_size"),
                optionalInt(config, "max_position_embeddings", defaultMaxPositions(modelType)),
                optionalDouble(config, "rms_norm_eps", 1e-6),
                RopeParser.parse(config),
                bool(config, "tie_word_embeddings", false),
                attentionBias(config, modelType),
                modelType.equals("qwen3"),
                bosTokenId(config, generation),
                eosTokenIds(config, generation),
                text(config, "torch_dtype", text(config, "dtype", "unknown")));
    }

    /** transformers' defaults when config.json omits max_position_embeddings. */
    private static int defaultMaxPositions(String modelType) {
        return switch (modelType) {
            case "llama" -> 2048;
            case "mistral" -> 4096 * 32;
            default -> 32768;
        };
    }

    /**
     * qwen2 always has q/k/v biases; llama and qwen3 have them when attention_bias says so (and then
     * o_proj is biased too, see {@link TensorNames#hasOutputBias}); mistral never.
     */
    private static boolean attentionBias(JsonNode config, String modelType) {
        return switch (modelType) {
            case "qwen2" -> true;
            case "mistral" -> false;
            default -> bool(config, "attention_bias", false);
        };
    }

    private static void refuseUnsupportedFeatures(JsonNode config, String modelType) {
        String act = text(config, "hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ModelFormatException("config.json: unsupported hidden_act '" + act + "' (supported: silu)");
        }
        if (bool(config, "mlp_bias", false)) {
            throw new ModelFormatException("config.json: mlp_bias=true is not supported");
        }
    }

    private static int bosTokenId(JsonNode config, JsonNode generation) {
        List<Integer> fromGeneration = generation == null ? List.of() : ids(generation, "bos_token_id");
        List<Integer> ids = fromGeneration.isEmpty() ? ids(config, "bos_token_id") : fromGeneration;
        return ids.isEmpty() ? -1 : ids.getFirst();
    }

    private static List<Integer> eosTokenIds(JsonNode config, JsonNode generation) {
        List<Integer> fromGeneration = generation == null ? List.of() : ids(generation, "eos_token_id");
        return fromGeneration.isEmpty() ? ids(config, "eos_token_id") : fromGeneration;
    }

    /** A token id field that may be absent, null, an int, or a list of ints. */
    private static List<Integer> ids(JsonNode node, String field) {
        JsonNode v = node.get(field);
        List<Integer> out = new ArrayList<>();
        if (v == null || v.isNull()) return out;
        if (v.isArray()) {
            for (JsonNode e : v) out.add(tokenId(field, e));
        } else {
            out.add(tokenId(field, v));
        }
        return out;
    }

    private static int tokenId(String field, JsonNode v) {
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0) {
            throw new ModelFormatException("config.json: " + field + " holds " + v + ", not a token id");
        }
        return v.asInt();
    }

    private static JsonNode readObject(Path file, boolean required) {
        if (!Files.isRegularFile(file)) {
            if (required) throw new ModelFormatException(file + ": not found (a model directory needs config.json)");
            return null;
        }
        JsonNode node;
        try {
            node = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (node == null || !node.isObject()) throw new ModelFormatException(file + ": not a JSON object");
        return node;
    }

    static int requiredInt(JsonNode node, String field) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) throw new ModelFormatException("config.json: missing " + field);
        return asInt(field, v);
    }

    static int optionalInt(JsonNode node, String field, int fallback) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? fallback : asInt(field, v);
    }

    private static int asInt(String field, JsonNode v) {
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new ModelFormatException("config.json: " + field + " must be an integer, got " + v);
        }
        return v.asInt();
    }

    static double optionalDouble(JsonNode node, String field, double fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isNumber()) throw new ModelFormatException("config.json: " + field + " must be a number, got " + v);
        return v.asDouble();
    }

    static boolean bool(JsonNode node, String field, boolean fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isBoolean()) throw new ModelFormatException("config.json: " + field + " must be true or false, got " + v);
        return v.asBoolean();
    }

    static String text(JsonNode node, String field, String fallback) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isTextual()) throw new ModelFormatException("config.json: " + field + " must be a string, got " + v);
        return v.asText();
    }
}
