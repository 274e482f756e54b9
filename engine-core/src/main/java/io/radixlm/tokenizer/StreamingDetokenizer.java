package io.radixlm.tokenizer;

import java.util.Arrays;

/**
 * Turns generated token ids into text as they arrive, so that the concatenation of everything returned
 * equals {@code tokenizer.decode(allIds)}.
 *
 * <p>Decoding one token at a time is wrong in two ways: SentencePiece-style decoders turn "▁" into a space
 * except at the very start of the text, and byte-fallback tokens (&lt;0xE2&gt;...) only make a character
 * together. So, as vLLM's incremental detokenizer and HF's TextStreamer do, each push decodes a window
 * starting a little before the text already returned (prefixOffset) twice — up to readOffset, and up to
 * the newest token — and returns the difference. Text that ends in U+FFFD (an incomplete UTF-8 sequence)
 * is held back until the next token completes it; flush() gives whatever is left at the end.
 */
public final class StreamingDetokenizer {

    private static final char REPLACEMENT = '\uFFFD';

    private final Tokenizer tokenizer;
    private int[] ids = new int[16];
    private int numIds;
    private int prefixOffset;   // window start: decoded text before readOffset is context only
    private int readOffset;     // ids before this one have been returned as text

    public StreamingDetokenizer(Tokenizer tokenizer) {
        if (tokenizer == null) throw new IllegalArgumentException("streaming detokenizer needs a tokenizer");
        this.tokenizer = tokenizer;
    }

    /** Adds one generated token; returns the text it completes (possibly empty). */
    public String push(int tokenId) {
        if (numIds == ids.length) ids = Arrays.copyOf(ids, 2 * ids.length);
        ids[numIds++] = tokenId;
        String prefixText = decodeRange(prefixOffset, readOffset);
        String fullText = decodeRange(prefixOffset, numIds);
        if (fullText.length() <= prefixText.length() || fullText.charAt(fullText.length() - 1) == REPLACEMENT) {
            return "";
        }
        prefixOffset = readOffset;
        readOffset = numIds;
        return newSuffix(prefixText, fullText);
    }

    /** The text still held back (an incomplete character at the end of the output), then resets nothing. */
    public String flush() {
        String prefixText = decodeRange(prefixOffset, readOffset);
        String fullText = decodeRange(prefixOffset, numIds);
        prefixOffset = readOffset;
        readOffset = numIds;
        return fullText.length() > prefixText.length() ? newSuffix(prefixText, fullText) : "";
    }

    private String decodeRange(int from, int to) {
        return from == to ? "" : tokenizer.decode(Arrays.copyOfRange(ids, from, to));
    }

    // Normally prefixText is a prefix of fullText; when a decoder rewrites earlier text we still return
    // only what lies past the old length, as vLLM does, rather than repeat text already shown.
    private static String newSuffix(String prefixText, String fullText) {
        return fullText.substring(prefixText.length());
    }
}
