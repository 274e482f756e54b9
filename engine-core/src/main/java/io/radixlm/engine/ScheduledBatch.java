package io.radixlm.engine;

import java.util.List;

/**
 * What one model step runs: for each sequence, how many of its uncomputed tokens (starting at
 * numComputed) go through the model now. A sequence whose chunk reaches its last token samples a token.
 */
record ScheduledBatch(List<Sequence> sequences, int[] numNewTokens) {
    ScheduledBatch {
        if (sequences.size() != numNewTokens.length) throw new IllegalArgumentException("one count per sequence");
        sequences = List.copyOf(sequences);
    }

    boolean isEmpty() { return sequences.isEmpty(); }

    /** How many sequences sample a token after this step: the rows of logits the step produces. */
    int numSampling() {
        int n = 0;
        for (int i = 0; i < sequences.size(); i++) if (samples(i)) n++;
        return n;
    }

    /** Whether sequence i samples a token after this step (its chunk ends at its newest token). */
    boolean samples(int i) {
        Sequence s = sequences.get(i);
        return s.numComputed + numNewTokens[i] == s.tokens.size();
    }
}
