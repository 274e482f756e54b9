package io.radixlm.model;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * RoPE settings from config.json in either form transformers has used: the older top-level
 * {@code rope_theta} with an optional {@code rope_scaling} object, or transformers 5's
 * {@code rope_parameters} object that carries {@code rope_theta} itself.
 */
final class RopeParser {
    private static final double DEFAULT_THETA = 10000.0;

    private RopeParser() {}

    static RopeConfig parse(JsonNode config) {
        double topTheta = ConfigLoader.optionalDouble(config, "rope_theta", DEFAULT_THETA);
        JsonNode params = config.get("rope_parameters");
        if (params != null && !params.isNull()) {
            requireObject(params, "rope_parameters");
            return fromObject(params, ConfigLoader.optionalDouble(params, "rope_theta", topTheta), "rope_parameters");
        }
        JsonNode scaling = config.get("rope_scaling");
        if (scaling == null || scaling.isNull()) return RopeConfig.defaultRope(topTheta);
        requireObject(scaling, "rope_scaling");
        return fromObject(scaling, topTheta, "rope_scaling");
    }

    /** Older configs name the kind "type", newer ones "rope_type". */
    private static RopeConfig fromObject(JsonNode node, double theta, String where) {
        String type = ConfigLoader.text(node, "rope_type", ConfigLoader.text(node, "type", "default"));
        return switch (type) {
            case "default" -> RopeConfig.defaultRope(theta);
            case "llama3" -> llama3(node, theta, where);
            default -> throw new ModelFormatException("config.json: unsupported " + where + " type '" + type
                    + "' (supported: default, llama3)");
        };
    }

    private static RopeConfig llama3(JsonNode node, double theta, String where) {
        double factor = required(node, "factor", where);
        double low = required(node, "low_freq_factor", where);
        double high = required(node, "high_freq_factor", where);
        double original = required(node, "original_max_position_embeddings", where);
        // The smoothing step divides by (high - low) and by the wavelength bounds original / low and original / high.
        if (!(factor > 0) || !(low > 0) || !(high > low) || !(original >= 1) || original != Math.rint(original)) {
            throw new ModelFormatException("config.json: " + where + " of type llama3 needs factor > 0, 0 < low_freq_factor"
                    + " < high_freq_factor and an integer original_max_position_embeddings >= 1, got " + node);
        }
        return new RopeConfig("llama3", theta, factor, low, high, (int) original);
    }

    private static double required(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || !v.isNumber()) {
            throw new ModelFormatException("config.json: " + where + " of type llama3 needs a number " + field);
        }
        return v.asDouble();
    }

    private static void requireObject(JsonNode node, String where) {
        if (!node.isObject()) throw new ModelFormatException("config.json: " + where + " must be an object, got " + node);
    }
}
