package io.radixlm.engine;

import java.util.Arrays;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

/**
 * Chooses the next token from one row of logits, as {@link SamplingParams} say.
 *
 * <p>temperature 0 is greedy: the argmax, the lowest id on ties. Otherwise the filters run in the order
 * Hugging Face transformers applies its warpers (temperature → top-k → top-p → min-p, see
 * {@code GenerationMixin._get_logits_processor}):
 * <ol>
 *   <li>softmax of logits / temperature, in float64 with the maximum subtracted;</li>
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
 * <p>Not thread-safe: one Sampler per sequence, so that a seed reproduces that sequence's tokens.
 */
public final class Sampler {
    private static final String ALGORITHM = "L64X128MixRandom";

    private final SamplingParams params;
    private final RandomGenerator random;

    /** The random generator is seeded from params.seed(): the same seed gives the same draws. */
    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = RandomGeneratorFactory.of(ALGORITHM).create(params.seed());
    }

    /**
     * The next token id from logits[offset, offset + vocabSize).
     *
     * @throws IllegalArgumentException when a logit is NaN or infinite (the model produced garbage)
     */
    public int sample(float[] logits, int offset, int vocabSize) {
        if (vocabSize < 1 || offset < 0 || offset + vocabSize > logits.length) {
            throw new IllegalArgumentException("logits row [" + offset + ", " + offset + "+" + vocabSize
                    + ") is outside an array of " + logits.length);
        }
        requireFinite(logits, offset, vocabSize);
        if (params.isGreedy()) return argmax(logits, offset, vocabSize);
        double[] probs = softmax(logits, offset, vocabSize, params.temperature());
        boolean filtered = params.topK() > 0 || params.topP() < 1 || params.minP() > 0;
        if (!filtered) return draw(probs, allIds(vocabSize));
        double[] sortedDesc = sortedDescending(probs);
        int numKept = keptCount(sortedDesc);
        return draw(probs, keptIds(probs, sortedDesc[numKept - 1], numKept));
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

    /** softmax(logits / temperature) in float64; the maximum is subtracted so exp never overflows. */
    static double[] softmax(float[] logits, int offset, int vocabSize, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocabSize; i++) max = Math.max(max, logits[offset + i] / temperature);
        double[] probs = new double[vocabSize]; // (vocabSize)
        double total = 0;
        for (int i = 0; i < vocabSize; i++) {
            probs[i] = Math.exp(logits[offset + i] / temperature - max);
            total += probs[i];
        }
        for (int i = 0; i < vocabSize; i++) probs[i] /= total;
        return probs;
    }

    /**
     * How many tokens, in most-probable-first order, survive top-k, top-p and min-p. Each filter keeps a
     * prefix of that order, so one count describes the kept set.
     */
    private int keptCount(double[] sortedDesc) {
        int vocabSize = sortedDesc.length;
        int numKept = params.topK() > 0 ? Math.min(params.topK(), vocabSize) : vocabSize;
        if (params.topP() < 1) {
            double topKMass = 0;
            for (int i = 0; i < numKept; i++) topKMass += sortedDesc[i];
            double cumulative = 0;
            for (int i = 0; i < numKept; i++) {
                cumulative += sortedDesc[i];
                if (cumulative / topKMass >= params.topP()) {
                    numKept = i + 1;
                    break;
                }
            }
        }
        if (params.minP() > 0) {
            double threshold = params.minP() * sortedDesc[0];
            int numAbove = 1; // the top token always passes: pmax >= minP * pmax
            while (numAbove < numKept && sortedDesc[numAbove] >= threshold) numAbove++;
            numKept = numAbove;
        }
        return numKept;
    }

    /** Draws one of the kept ids (ascending) with probability proportional to probs[id]. */
    private int draw(double[] probs, int[] kept) {
        double mass = 0;
        for (int id : kept) mass += probs[id];
        double target = random.nextDouble() * mass;
        double cumulative = 0;
        for (int id : kept) {
            cumulative += probs[id];
            if (target < cumulative) return id;
        }
        return kept[kept.length - 1]; // rounding left target at the very top of the range
    }

    /**
     * The numKept most probable ids, ascending: every token above the cut value (the numKept-th largest
     * probability) plus, of those equal to it, the lowest ids as needed.
     */
    private static int[] keptIds(double[] probs, double cut, int numKept) {
        int vocabSize = probs.length;
        int numAboveCut = 0;
        for (double p : probs) if (p > cut) numAboveCut++;
        int tiesWanted = numKept - numAboveCut;
        int[] kept = new int[numKept];
        int n = 0;
        for (int i = 0; i < vocabSize && n < numKept; i++) {
            if (probs[i] > cut) {
                kept[n++] = i;
            } else if (probs[i] == cut && tiesWanted > 0) {
                kept[n++] = i;
                tiesWanted--;
            }
        }
        return kept;
    }

    private static int[] allIds(int vocabSize) {
        int[] all = new int[vocabSize];
        for (int i = 0; i < vocabSize; i++) all[i] = i;
        return all;
    }

    private static double[] sortedDescending(double[] values) {
        double[] a = values.clone();
        Arrays.sort(a);
        for (int i = 0, j = a.length - 1; i < j; i++, j--) {
            double t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }
}
