package io.radixlm.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

/** Runs the command line in-process with captured stdout and stderr. */
record CliRun(int exitCode, String out, String err) {
    /** The golden fixtures (written by transformers and tokenizers) that engine-core's tests use. */
    static final Path GOLDEN = Path.of("..", "engine-core", "src", "test", "resources", "golden").toAbsolutePath().normalize();

    static Path goldenModel(String name) { return GOLDEN.resolve("models").resolve(name); }

    static CliRun of(String... args) {
        CommandLine cmd = Main.newCommandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        int code = cmd.execute(args);
        return new CliRun(code, out.toString(), err.toString());
    }

    @Override
    public String toString() {
        return "exit " + exitCode + "\n--- stdout\n" + out + "\n--- stderr\n" + err;
    }
}
