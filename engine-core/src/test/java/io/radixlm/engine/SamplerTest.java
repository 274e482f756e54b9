package io.radixlm.engine;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sampler against distributions written down by hand from the definitions of the filters.
 * Logits are log-probabilities of round numbers, so each filter's kept set and renormalised
 * probabilities can be read off without running any softmax.
 */
class SamplerTest {
    private static final int NUM_DRAWS = 200_000;
    /** Chi-square bound: for up to 5 degrees of freedom P(X > 40) < 1e-6, while a wrong filter gives thousands. */
    private static final double CHI_SQUARE_BOUND = 40;
    /** Probabilities 0.40, 0.30, 0.15, 0.10, 0.05. */
    private static final float[] LOGITS = logsOf(0.40, 0.30, 0.15, 0.10, 0.05);

    @Test
    void plainSamplingFollowsSoftmax() {
        assertDrawsFollow(params(1.0, 0, 1.0, 0.0), LOGITS, 0.40, 0.30, 0.15, 0.10, 0.05);
    }

    @Test
    void temperatureTwoTakesSquareRootsOfProbabilities() {
        double[] roots = {Math.sqrt(0.40), Math.sqrt(0.30), Math.sqrt(0.15), Math.sqrt(0.10), Math.sqrt(0.05)};
        assertDrawsFollow(params(2.0, 0, 1.0, 0.0), LOGITS, normalised(roots));
    }

    @Test
    void topKKeepsTheKMostProbable() {
        assertDrawsFollow(params(1.0, 3, 1.0, 0.0), LOGITS, 0.40 / 0.85, 0.30 / 0.85, 0.15 / 0.85, 0, 0);
    }

    @Test
    void topPKeepsTheShortestPrefixReachingP() {
        // 0.40 < 0.65 <= 0.70
        assertDrawsFollow(params(1.0, 0, 0.65, 0.0), LOGITS, 0.4 / 0.7, 0.3 / 0.7, 0, 0, 0);
    }

    @Test
    void topPIsMeasuredAfterTopKRenormalises() {
        // top-k 3 leaves 0.40/0.85 = 0.47, then 0.70/0.85 = 0.82 >= 0.8: two tokens (without top-k it would be three)
        assertDrawsFollow(params(1.0, 3, 0.8, 0.0), LOGITS, 0.4 / 0.7, 0.3 / 0.7, 0, 0, 0);
    }

    @Test
    void minPKeepsTokensAtLeastMinPTimesTheMax() {
        // threshold 0.3 * 0.40 = 0.12
        assertDrawsFollow(params(1.0, 0, 1.0, 0.3), LOGITS, 0.40 / 0.85, 0.30 / 0.85, 0.15 / 0.85, 0, 0);
    }

    @Test
    void minPComesAfterTopPAsInTransformers() {
        // top-p 0.75 first: 0.70 < 0.75 <= 0.85 keeps three; min-p 0.3 (>= 0.12) keeps the same three.
        // Were min-p applied first (vLLM v1), top-p over {0.47, 0.35, 0.18} would keep only two.
        assertDrawsFollow(params(1.0, 0, 0.75, 0.3), LOGITS, 0.40 / 0.85, 0.30 / 0.85, 0.15 / 0.85, 0, 0);
    }

    @Test
    void greedyTakesTheLowestIdOfEqualMaxima() {
        Sampler sampler = new Sampler(SamplingParams.greedy(1));
        assertEquals(1, sampler.sample(new float[] {1, 3, 3, 2}, 0, 4));
        assertEquals(2, sampler.sample(new float[] {9, 9, 0, 3, 5}, 2, 3), "ids are relative to the row at offset");
    }

    @Test
    void topKOneAndTinyTopPAreGreedy() {
        Random rows = new Random(7);
        Sampler topK1 = new Sampler(params(1.5, 1, 1.0, 0.0));
        Sampler tinyTopP = new Sampler(params(1.5, 0, 1e-9, 0.0));
        Sampler greedy = new Sampler(SamplingParams.greedy(1));
        for (int row = 0; row < 200; row++) {
            float[] logits = new float[1000];
            for (int i = 0; i < logits.length; i++) logits[i] = (float) rows.nextGaussian() * 3;
            int expected = greedy.sample(logits, 0, logits.length);
            assertEquals(expected, topK1.sample(logits, 0, logits.length));
            assertEquals(expected, tinyTopP.sample(logits, 0, logits.length));
        }
    }

    @Test
    void minPBoundaries() {
        float[] ratioOverE = {0, -1}; // p1 / p0 = 1/e = 0.36788
        assertDrawsFollow(params(1.0, 0, 1.0, 0.3678), ratioOverE, 1 / (1 + Math.exp(-1)), Math.exp(-1) / (1 + Math.exp(-1)));
        assertDrawsFollow(params(1.0, 0, 1.0, 0.3679), ratioOverE, 1, 0);
        // min-p 1 keeps exactly the tokens tied with the maximum
        assertDrawsFollow(params(1.0, 0, 1.0, 1.0), new float[] {2, 0, 2, 1}, 0.5, 0, 0.5, 0);
    }

    @Test
    void sameSeedSameTokensOtherSeedOtherTokens() {
        float[] logits = new float[50];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) Math.sin(i);
        int[] first = drawMany(new Sampler(params(1.0, 20, 0.9, 0.05, 42)), logits, 500);
        int[] again = drawMany(new Sampler(params(1.0, 20, 0.9, 0.05, 42)), logits, 500);
        int[] other = drawMany(new Sampler(params(1.0, 20, 0.9, 0.05, 43)), logits, 500);
        assertArrayEquals(first, again);
        assertFalse(java.util.Arrays.equals(first, other));
    }

    @Test
    void nonFiniteLogitsAreRejected() {
        Sampler sampler = new Sampler(params(1.0, 0, 1.0, 0.0));
        Sampler greedy = new Sampler(SamplingParams.greedy(1));
        var nan = assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[] {0, Float.NaN}, 0, 2));
        assertTrue(nan.getMessage().contains("token 1 is NaN"), nan.getMessage());
        var inf = assertThrows(IllegalArgumentException.class,
                () -> greedy.sample(new float[] {Float.POSITIVE_INFINITY, 0}, 0, 2));
        assertTrue(inf.getMessage().contains("Infinity"), inf.getMessage());
        assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[] {Float.NEGATIVE_INFINITY}, 0, 1));
    }

    @Test
    void rowOutsideTheArrayIsRejected() {
        Sampler sampler = new Sampler(params(1.0, 0, 1.0, 0.0));
        assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[4], 2, 3));
    }

    private static void assertDrawsFollow(SamplingParams params, float[] logits, double... expected) {
        Sampler sampler = new Sampler(params);
        long[] counts = new long[logits.length];
        for (int i = 0; i < NUM_DRAWS; i++) counts[sampler.sample(logits, 0, logits.length)]++;
        double chiSquare = 0;
        for (int id = 0; id < logits.length; id++) {
            if (expected[id] == 0) {
                assertEquals(0, counts[id], "token " + id + " should be filtered out");
                continue;
            }
            double want = expected[id] * NUM_DRAWS;
            chiSquare += (counts[id] - want) * (counts[id] - want) / want;
        }
        assertTrue(chiSquare < CHI_SQUARE_BOUND,
                "chi-square " + chiSquare + " for counts " + java.util.Arrays.toString(counts));
    }

    private static int[] drawMany(Sampler sampler, float[] logits, int n) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = sampler.sample(logits, 0, logits.length);
        return ids;
    }

    private static SamplingParams params(double temperature, int topK, double topP, double minP) {
        return params(temperature, topK, topP, minP, 1234);
    }

    private static SamplingParams params(double temperature, int topK, double topP, double minP, long seed) {
        return new SamplingParams(temperature, topK, topP, minP, seed, 16, List.of(), false);
    }

    private static float[] logsOf(double... probs) {
        float[] logits = new float[probs.length];
        for (int i = 0; i < probs.length; i++) logits[i] = (float) Math.log(probs[i]);
        return logits;
    }

    private static double[] normalised(double[] weights) {
        double total = 0;
        for (double w : weights) total += w;
        double[] out = new double[weights.length];
        for (int i = 0; i < weights.length; i++) out[i] = weights[i] / total;
        return out;
    }
}
