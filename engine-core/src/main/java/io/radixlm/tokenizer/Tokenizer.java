package io.radixlm.tokenizer;

/** Text to token ids and back, as the model's tokenizer.json defines it. */
public interface Tokenizer extends AutoCloseable {

    /** Ids of text; with addSpecialTokens the tokenizer's post-processor adds BOS (and whatever else it says). */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of ids; special tokens (BOS, EOS, ...) are skipped. */
    String decode(int[] ids);

    int vocabSize();

    @Override
    void close();
}
