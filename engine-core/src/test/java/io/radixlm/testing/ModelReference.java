package io.radixlm.testing;

import java.util.List;

/**
 * The contents of a golden model's reference.json: what transformers computed for that model.
 *
 * @param model         fixture name (e.g. "llama3_gqa")
 * @param sequences     random id sequences of lengths 1, 7, 33, 300 with their logits file
 * @param greedy        a 7-token prompt and the 24 tokens greedy generation produced (EOS ignored)
 * @param transformers  transformers version that produced it
 * @param torch         torch version that produced it
 */
public record ModelReference(String model, List<Sequence> sequences, Greedy greedy, String transformers,
                             String torch) {

    public ModelReference {
        if (sequences == null || sequences.isEmpty()) throw new IllegalArgumentException("no sequences");
        if (greedy == null) throw new IllegalArgumentException("no greedy reference");
        sequences = List.copyOf(sequences);
    }

    /** The sequence of the given length. */
    public Sequence sequence(int length) {
        return sequences.stream().filter(s -> s.length() == length).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no sequence of length " + length));
    }

    /**
     * One id sequence; logits names a .npy file beside reference.json, float32 [length, vocab], the
     * logits of every position.
     */
    public record Sequence(int length, int[] ids, String logits) {
        public Sequence {
            if (ids == null || ids.length != length) throw new IllegalArgumentException("ids do not match length " + length);
        }
    }

    /** Greedy generation from prompt; ignoreEos is true when generation did not stop at EOS. */
    public record Greedy(int[] prompt, int[] tokens, boolean ignoreEos) {
        public Greedy {
            if (prompt == null || tokens == null) throw new IllegalArgumentException("greedy needs prompt and tokens");
        }
    }
}
