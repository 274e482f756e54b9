package io.radixlm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/** The radixlm command line: one subcommand per task, user errors as one message and exit code 2. */
@Command(name = "radixlm", mixinStandardHelpOptions = true, version = "radixlm " + Main.VERSION,
        description = "A Java LLM inference engine with a radix prefix cache.",
        subcommands = {GenerateCommand.class, ChatCommand.class, LogitsCommand.class, TokenizeCommand.class,
                InfoCommand.class, ConvertCommand.class, VerifyCommand.class, BenchCommand.class})
public final class Main {
    static final String VERSION = "0.1.0";

    public static void main(String[] args) {
        // DJL's tokenizer binding otherwise tries to report usage to a cloud metadata address.
        if (System.getenv("OPT_OUT_TRACKING") == null) System.setProperty("OPT_OUT_TRACKING", "true");
        CommandLine cmd = newCommandLine();
        // Generated text may hold any character: write UTF-8 whatever the platform's default.
        cmd.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
        cmd.setErr(new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
        System.exit(cmd.execute(args));
    }

    /** The command line with radixlm's error handling: user errors exit 2 with one line, bugs exit 1 with a trace. */
    public static CommandLine newCommandLine() {
        CommandLine cmd = new CommandLine(new Main());
        cmd.setParameterExceptionHandler(ErrorHandling::onBadParameter);
        cmd.setExecutionExceptionHandler(ErrorHandling::onExecutionException);
        return cmd;
    }
}
