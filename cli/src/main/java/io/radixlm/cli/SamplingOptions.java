package io.radixlm.cli;

import io.radixlm.sampling.SamplingParams;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Sampling flags. The defaults are llama.cpp's (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05),
 * which users of local LLM command lines expect; temperature 0 is greedy.
 */
final class SamplingOptions {
    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256",
            description = "Most tokens to generate per request. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.8",
            description = "Softmax temperature, >= 0; 0 means greedy (argmax). Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "40",
            description = "Keep the K most probable tokens; 0 turns the filter off. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.95",
            description = "Keep the smallest set of most probable tokens whose probability reaches P, "
                    + "in (0, 1]; 1 turns the filter off. Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0.05",
            description = "Keep tokens at least P times as probable as the most probable, in [0, 1]; "
                    + "0 turns the filter off. Default: ${DEFAULT-VALUE}.")
    double minP;

    @Option(names = "--seed", paramLabel = "S",
            description = "Random seed; the same seed gives the same tokens. Default: a random seed, "
                    + "printed with the metrics so that a run can be repeated.")
    Long seed;

    @Option(names = "--stop", paramLabel = "STR",
            description = "Stop when the output contains STR (repeatable); the text is cut before it.")
    List<String> stopStrings = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating past end-of-sequence tokens "
            + "(for benchmarks and comparisons with references).")
    boolean ignoreEos;

    private long chosenSeed;
    private boolean seedChosen;

    /** The parameters, with flag names in the messages when a value is out of range. */
    SamplingParams toParams() {
        require(maxTokens >= 1, "--max-tokens must be at least 1, got " + maxTokens);
        require(temperature >= 0 && Double.isFinite(temperature),
                "--temperature must be >= 0 (0 = greedy), got " + temperature);
        require(topK >= 0, "--top-k must be >= 0 (0 = off), got " + topK);
        require(topP > 0 && topP <= 1, "--top-p must be in (0, 1], got " + topP);
        require(minP >= 0 && minP <= 1, "--min-p must be in [0, 1], got " + minP);
        for (String stop : stopStrings) require(!stop.isEmpty(), "--stop must not be empty");
        return new SamplingParams(temperature, topK, topP, minP, seed(), maxTokens, stopStrings, ignoreEos);
    }

    /** --seed, or one random seed drawn once per process (so every request of a run shares it). */
    long seed() {
        if (seed != null) return seed;
        if (!seedChosen) {
            chosenSeed = ThreadLocalRandom.current().nextLong();
            seedChosen = true;
        }
        return chosenSeed;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new UserException(message);
    }
}
