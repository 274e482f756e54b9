package io.radixlm.sampling;

import java.util.List;

/**
 * How tokens are chosen and when a request stops. temperature 0 means greedy. topK 0 and topP 1 and
 * minP 0 disable those filters. The same seed gives the same tokens for the same prompt and model.
 */
public record SamplingParams(double temperature, int topK, double topP, double minP, long seed,
                             int maxTokens, List<String> stopStrings, boolean ignoreEos) {

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
        }
    }

    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0, 0, 1, 0, 0, maxTokens, List.of(), false);
    }

    public boolean isGreedy() { return temperature == 0; }
}
