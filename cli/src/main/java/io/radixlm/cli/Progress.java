package io.radixlm.cli;

import java.io.PrintWriter;
import java.util.function.Consumer;

/** Progress and log lines go to stderr, so that stdout carries only the results. */
final class Progress {
    private Progress() { }

    static Consumer<String> to(PrintWriter err) {
        return line -> {
            err.println(line);
            err.flush();
        };
    }
}
