package io.radixlm.engine;

import io.radixlm.tokenizer.StreamingDetokenizer;
import io.radixlm.tokenizer.Tokenizer;

import java.util.List;

/**
 * The decoded output of one sequence and its stop strings. Text that might be the start of a stop
 * string is held back from the stream until it is known not to be one; a stop string ends the output
 * and is not part of it.
 */
final class OutputText {
    private final StreamingDetokenizer detokenizer;   // null without a tokenizer
    private final List<String> stopStrings;
    private final StringBuilder text = new StringBuilder();
    private int numEmitted;                           // chars of text already streamed
    private int stopAt = -1;                          // index of the stop string in text, once seen

    OutputText(Tokenizer tokenizer, List<String> stopStrings) {
        this.detokenizer = tokenizer == null ? null : new StreamingDetokenizer(tokenizer);
        this.stopStrings = stopStrings;
    }

    /** Adds a token; returns the text that may now be streamed. */
    String push(int tokenId) {
        if (detokenizer == null || stopAt >= 0) return "";
        int searchFrom = Math.max(0, text.length() - maxStopLength() + 1);
        text.append(detokenizer.push(tokenId));
        for (String stop : stopStrings) {
            int at = text.indexOf(stop, searchFrom);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) stopAt = at;
        }
        int safeEnd = stopAt >= 0 ? stopAt : text.length() - heldBack();
        return emitUpTo(safeEnd);
    }

    /** Text not yet streamed, at the end of generation (nothing past a stop string). */
    String flush() {
        if (detokenizer != null && stopAt < 0) text.append(detokenizer.flush());
        return emitUpTo(stopAt >= 0 ? stopAt : text.length());
    }

    boolean stopStringSeen() { return stopAt >= 0; }

    String finalText() { return text.substring(0, stopAt >= 0 ? stopAt : text.length()); }

    private String emitUpTo(int end) {
        if (end <= numEmitted) return "";
        String delta = text.substring(numEmitted, end);
        numEmitted = end;
        return delta;
    }

    /** Length of the longest suffix of text that is a proper prefix of some stop string. */
    private int heldBack() {
        int held = 0;
        for (String stop : stopStrings) {
            for (int len = Math.min(stop.length() - 1, text.length()); len > held; len--) {
                if (stop.startsWith(text.substring(text.length() - len))) {
                    held = len;
                    break;
                }
            }
        }
        return held;
    }

    private int maxStopLength() {
        int max = 1;
        for (String s : stopStrings) max = Math.max(max, s.length());
        return max;
    }
}
