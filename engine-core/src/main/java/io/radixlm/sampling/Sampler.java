package io.radixlm.sampling;

import java.util.Arrays;

/**
 * Chooses the next token from one row of logits, as {@link SamplingParams} say, with the random number
 * of {@link CounterUniform} for (seed, step). Stateless: the same (params, logits, step) always give the
 * same token, in any order of calls. {@code sampling.cu} is this class's exact twin on the GPU.
 *
 * <p>temperature 0 is greedy: the argmax, the lowest id on ties. Otherwise the filters run in the order
 * Hugging Face transformers applies its warpers (temperature → top-k → top-p → min-p, see
 * {@code GenerationMixin._get_logits_processor}):
 * <ol>
 *   <li>softmax of logits / temperature with the maximum subtracted;</li>
 *   <li>top-k keeps the k most probable tokens;</li>
 *   <li>top-p keeps the shortest prefix of those whose cumulative probability (renormalised over the
 *       top-k set) reaches p — the most probable token is always kept;</li>
 *   <li>min-p keeps tokens with p ≥ minP × pmax.</li>
 * </ol>
 * The survivors are renormalised and one is drawn. "Most probable first" is a total order: descending
 * probability, then ascending id, so exact ties at a cut are resolved towards lower ids (transformers
 * keeps every token tied with the k-th; with real logits exact ties are rare). vLLM v1 applies min-p
 * before top-k/top-p; the min-p cut itself is the same either way (it is relative to pmax, which every
 * filter keeps), only top-p's cumulative sum then sees a smaller set.
 *
 * <p>Exact arithmetic, so that the GPU agrees: each token's unnormalised weight
 * {@code exp(logit / T − max / T)} (float64; the top token weighs exactly 1) is truncated to a fixed-point
 * integer {@code w = (long) (weight × 2^43)}. Every sum after that is an exact integer sum, whatever its
 * order, so the CPU and a parallel GPU reduction get the same bits; only exp itself may differ in its last
 * bit between Java and CUDA, which moves a weight by at most one unit of 2^-43 and flips a token only
 * when u lies within ~1e-12 of a boundary of the cumulative distribution. Normalising by the total is left
 * out: the filters compare ratios (top-p: cumulative / top-k mass ≥ p, both in float64 from exact
 * integers; min-p: w ≥ minP × 2^43), so it cancels. Tokens lighter than 2^-43 of the top one get weight 0
 * and are never drawn (a probability change below 1e-13). The draw: M = the kept tokens' total weight,
 * target = floor(bits53 × M / 2^53), and the token is the first kept id, ascending, whose cumulative
 * weight exceeds target.
 */
public final class Sampler {
    /** Fixed-point weights: the most probable token weighs 2^43; 2^19 tokens of that weight still sum below 2^63. */
    static final double WEIGHT_SCALE = 0x1p43;
    /** A sort key is (w << ID_BITS) | (MAX_VOCAB - 1 - id): descending keys are most-probable-first order. */
    static final int ID_BITS = 19;
    public static final int MAX_VOCAB = 1 << ID_BITS;

    private final SamplingParams params;

    public Sampler(SamplingParams params) {
        this.params = params;
    }

    /**
     * One draw, explained: the token, the uniform u behind it (NaN for greedy) and the distance from u to
     * the nearer end of the token's interval of the kept tokens' cumulative distribution (how far u is
     * from choosing a neighbour; infinite for greedy).
     */
    public record Draw(int token, double u, double boundaryDistance) { }

    /**
     * The next token id from logits[offset, offset + vocabSize), for the sequence's step-th generated token.
     *
     * @throws IllegalArgumentException when a logit is NaN or infinite (the model produced garbage)
     */
    public int sample(float[] logits, int offset, int vocabSize, long step) {
        return draw(logits, offset, vocabSize, step).token();
    }

    /** As {@link #sample}, with u and its distance to a boundary of the cumulative distribution. */
    public Draw draw(float[] logits, int offset, int vocabSize, long step) {
        if (vocabSize < 1 || vocabSize > MAX_VOCAB || offset < 0 || offset + vocabSize > logits.length) {
            throw new IllegalArgumentException("logits row [" + offset + ", " + offset + "+" + vocabSize
                    + ") is outside an array of " + logits.length + " (or the vocabulary exceeds " + MAX_VOCAB + ")");
        }
        requireFinite(logits, offset, vocabSize);
        int best = argmax(logits, offset, vocabSize);
        if (params.isGreedy()) return new Draw(best, Double.NaN, Double.POSITIVE_INFINITY);
        long[] weights = weights(logits, offset, vocabSize, params.temperature(), logits[offset + best]);
        long cut = cutKey(weights);
        long mass = 0;
        for (int i = 0; i < vocabSize; i++) if (key(weights[i], i) >= cut) mass += weights[i];
        long bits = CounterUniform.bits53(params.seed(), step);
        long target = scaledTarget(bits, mass);
        long cumulative = 0;
        for (int i = 0; i < vocabSize; i++) {
            if (key(weights[i], i) < cut) continue;
            long before = cumulative;
            cumulative += weights[i];
            if (target < cumulative) {
                double u = bits * 0x1p-53;
                double distance = Math.min(u - (double) before / mass, (double) cumulative / mass - u);
                return new Draw(i, u, distance);
            }
        }
        throw new IllegalStateException("target " + target + " not below the kept mass " + mass);
    }

    private static void requireFinite(float[] logits, int offset, int vocabSize) {
        for (int i = 0; i < vocabSize; i++) {
            float x = logits[offset + i];
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException("logit of token " + i + " is " + x
                        + ": the model produced non-finite values, nothing can be sampled");
            }
        }
    }

    /** Index of the largest logit; the first (lowest id) of equal maxima. */
    static int argmax(float[] logits, int offset, int vocabSize) {
        int best = 0;
        for (int i = 1; i < vocabSize; i++) {
            if (logits[offset + i] > logits[offset + best]) best = i;
        }
        return best;
    }

    /**
     * Fixed-point weights (vocabSize): (long) (exp(x / T − maxLogit / T) × 2^43). Dividing by a positive T
     * is monotonic, so maxLogit / T is the largest x / T and the top weight is exactly 2^43.
     */
    static long[] weights(float[] logits, int offset, int vocabSize, double temperature, float maxLogit) {
        double maxScaled = maxLogit / temperature;
        long[] weights = new long[vocabSize]; // (vocabSize)
        for (int i = 0; i < vocabSize; i++) {
            weights[i] = (long) (Math.exp(logits[offset + i] / temperature - maxScaled) * WEIGHT_SCALE);
        }
        return weights;
    }

    /** The total order "most probable first" as one number: larger weight first, then lower id. */
    static long key(long weight, int id) {
        return (weight << ID_BITS) | (MAX_VOCAB - 1 - id);
    }

    /** floor(bits53 × mass / 2^53) without overflow: a uniform integer in [0, mass). */
    static long scaledTarget(long bits53, long mass) {
        long high = Math.unsignedMultiplyHigh(bits53, mass);
        long low = bits53 * mass;
        return (high << (64 - 53)) | (low >>> 53);
    }

    /**
     * The smallest key that survives top-k, top-p and min-p. Each filter keeps a prefix of the
     * most-probable-first order, so the kept set is every token whose key is at least this one.
     */
    private long cutKey(long[] weights) {
        int vocabSize = weights.length;
        boolean filtered = (params.topK() > 0 && params.topK() < vocabSize) || params.topP() < 1 || params.minP() > 0;
        if (!filtered) return 0; // every key is >= 0
        long[] keys = new long[vocabSize]; // (vocabSize), sorted ascending: keys[vocabSize - 1 - d] is the d-th most probable
        for (int i = 0; i < vocabSize; i++) keys[i] = key(weights[i], i);
        Arrays.sort(keys);
        int numKept = params.topK() > 0 ? Math.min(params.topK(), vocabSize) : vocabSize;
        if (params.topP() < 1) {
            long topKMass = 0;
            for (int d = 0; d < numKept; d++) topKMass += keys[vocabSize - 1 - d] >>> ID_BITS;
            double needed = params.topP() * (double) topKMass;
            long cumulative = 0;
            for (int d = 0; d < numKept; d++) {
                cumulative += keys[vocabSize - 1 - d] >>> ID_BITS;
                if ((double) cumulative >= needed) {
                    numKept = d + 1;
                    break;
                }
            }
        }
        if (params.minP() > 0) {
            double threshold = params.minP() * WEIGHT_SCALE;
            int numAbove = 1; // the top token always passes: 2^43 >= minP * 2^43
            while (numAbove < numKept && (double) (keys[vocabSize - 1 - numAbove] >>> ID_BITS) >= threshold) numAbove++;
            numKept = numAbove;
        }
        return keys[vocabSize - 1 - (numKept - 1)];
    }
}
