package io.radixlm.sampling;

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
        assertEquals(1, sampler.sample(new float[] {1, 3, 3, 2}, 0, 4, 0));
        assertEquals(2, sampler.sample(new float[] {9, 9, 0, 3, 5}, 2, 3, 0), "ids are relative to the row at offset");
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
            int expected = greedy.sample(logits, 0, logits.length, row);
            assertEquals(expected, topK1.sample(logits, 0, logits.length, row));
            assertEquals(expected, tinyTopP.sample(logits, 0, logits.length, row));
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
    void sameSeedAndStepGiveTheSameTokenInAnyOrderOfCalls() {
        float[] logits = new float[50];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) Math.sin(i);
        SamplingParams seeded = params(1.0, 20, 0.9, 0.05, 42);
        int[] inOrder = drawMany(new Sampler(seeded), logits, 500);
        List<Integer> steps = new java.util.ArrayList<>();
        for (int step = 0; step < 500; step++) steps.add(step);
        java.util.Collections.shuffle(steps, new Random(5));
        Sampler shuffled = new Sampler(seeded);
        Sampler otherSeed = new Sampler(params(1.0, 20, 0.9, 0.05, 7));
        for (int step : steps) {
            otherSeed.sample(logits, 0, logits.length, step); // interleaved calls of another sequence change nothing
            assertEquals(inOrder[step], shuffled.sample(logits, 0, logits.length, step), "step " + step);
        }
    }

    @Test
    void counterUniformWalksSplittableRandomsSequenceFromTheMixedSeed() {
        // java.util.SplittableRandom is SplitMix64 (same mix, same gamma): seeded with mix64(seed), its
        // n-th nextLong() is our step n - 1. SplitMix64 from state 0 first outputs 0xE220A8397B1DCDAF.
        assertEquals(0xE220A8397B1DCDAFL, CounterUniform.mix64(0x9E3779B97F4A7C15L));
        for (long seed : new long[] {0, 1, -1, 42, Long.MIN_VALUE}) {
            java.util.SplittableRandom reference = new java.util.SplittableRandom(CounterUniform.mix64(seed));
            for (int step = 0; step < 100; step++) {
                assertEquals(reference.nextLong() >>> 11, CounterUniform.bits53(seed, step), "seed " + seed + " step " + step);
            }
        }
    }

    @Test
    void counterUniformIsUniformOverSeedsForOneStep() {
        int numBins = 20;
        int numSeeds = 200_000;
        long[] counts = new long[numBins];
        for (long seed = 0; seed < numSeeds; seed++) counts[(int) (CounterUniform.uniform(seed, 3) * numBins)]++;
        double want = (double) numSeeds / numBins;
        double chiSquare = 0;
        for (long c : counts) chiSquare += (c - want) * (c - want) / want;
        // 19 degrees of freedom: P(X > 60) < 1e-5
        assertTrue(chiSquare < 60, "chi-square " + chiSquare + " for " + java.util.Arrays.toString(counts));
    }

    @Test
    void drawsStayInsideTheKeptSetOfAFloat64Reference() {
        Random rows = new Random(11);
        SamplingParams[] cases = {params(0.7, 40, 1.0, 0.0), params(1.3, 0, 0.5, 0.0), params(1.0, 0, 1.0, 0.2),
                                  params(1.0, 100, 0.9, 0.05)};
        for (SamplingParams p : cases) {
            for (int row = 0; row < 20; row++) {
                float[] logits = new float[1000];
                for (int i = 0; i < logits.length; i++) logits[i] = (float) rows.nextGaussian() * 2;
                java.util.Set<Integer> kept = referenceKeptSet(logits, p);
                Sampler sampler = new Sampler(p);
                boolean sawTop = false;
                int top = Sampler.argmax(logits, 0, logits.length);
                for (int step = 0; step < 300; step++) {
                    int token = sampler.sample(logits, 0, logits.length, step);
                    assertTrue(kept.contains(token), p + ": token " + token + " is outside the reference kept set");
                    sawTop |= token == top;
                }
                assertTrue(sawTop || kept.size() > 50, p + ": the most probable token was never drawn");
            }
        }
    }

    /** The filters written straight from their definitions in float64: probabilities sorted descending, then cut. */
    private static java.util.Set<Integer> referenceKeptSet(float[] logits, SamplingParams p) {
        int n = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x / p.temperature());
        double[] probs = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) total += probs[i] = Math.exp(logits[i] / p.temperature() - max);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> probs[a] != probs[b] ? Double.compare(probs[b], probs[a]) : Integer.compare(a, b));
        int numKept = p.topK() > 0 ? Math.min(p.topK(), n) : n;
        double topKMass = 0;
        for (int d = 0; d < numKept; d++) topKMass += probs[order[d]] / total;
        double cumulative = 0;
        for (int d = 0; d < numKept && p.topP() < 1; d++) {
            cumulative += probs[order[d]] / total;
            if (cumulative / topKMass >= p.topP()) {
                numKept = d + 1;
                break;
            }
        }
        int numAbove = 1;
        while (numAbove < numKept && probs[order[numAbove]] >= p.minP() * probs[order[0]]) numAbove++;
        java.util.Set<Integer> kept = new java.util.HashSet<>();
        for (int d = 0; d < numAbove; d++) kept.add(order[d]);
        return kept;
    }

    @Test
    void nonFiniteLogitsAreRejected() {
        Sampler sampler = new Sampler(params(1.0, 0, 1.0, 0.0));
        Sampler greedy = new Sampler(SamplingParams.greedy(1));
        var nan = assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[] {0, Float.NaN}, 0, 2, 0));
        assertTrue(nan.getMessage().contains("token 1 is NaN"), nan.getMessage());
        var inf = assertThrows(IllegalArgumentException.class,
                () -> greedy.sample(new float[] {Float.POSITIVE_INFINITY, 0}, 0, 2, 0));
        assertTrue(inf.getMessage().contains("Infinity"), inf.getMessage());
        assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[] {Float.NEGATIVE_INFINITY}, 0, 1, 0));
    }

    @Test
    void rowOutsideTheArrayIsRejected() {
        Sampler sampler = new Sampler(params(1.0, 0, 1.0, 0.0));
        assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[4], 2, 3, 0));
    }

    private static void assertDrawsFollow(SamplingParams params, float[] logits, double... expected) {
        Sampler sampler = new Sampler(params);
        long[] counts = new long[logits.length];
        for (int i = 0; i < NUM_DRAWS; i++) counts[sampler.sample(logits, 0, logits.length, i)]++;
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
        for (int i = 0; i < n; i++) ids[i] = sampler.sample(logits, 0, logits.length, i);
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
