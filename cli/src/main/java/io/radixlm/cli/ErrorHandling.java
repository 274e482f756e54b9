package io.radixlm.cli;

import io.radixlm.convert.InstallException;
import io.radixlm.engine.Backends.BackendUnavailableException;
import io.radixlm.model.ModelFormatException;
import io.radixlm.tokenizer.ChatTemplateException;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;

/**
 * Tells user errors from bugs. A user error (a bad flag value, a missing or malformed file, a prompt that
 * does not fit the model, a backend this machine cannot run) prints one line and exits 2; anything else is
 * a bug in radixlm and exits 1 with its stack trace, so that it can be reported.
 */
final class ErrorHandling {
    static final int USER_ERROR = 2;
    static final int BUG = 1;

    private ErrorHandling() { }

    static int onBadParameter(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        err.println(cmd.getCommandSpec().qualifiedName() + ": " + e.getMessage());
        if (!CommandLine.UnmatchedArgumentException.printSuggestions(e, err)) {
            err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help'.");
        }
        err.flush();
        return USER_ERROR;
    }

    static int onExecutionException(Exception e, CommandLine cmd, ParseResult parseResult) {
        PrintWriter err = cmd.getErr();
        Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
        if (isUserError(cause)) {
            err.println(cmd.getCommandSpec().qualifiedName() + ": error: " + messageOf(cause));
            err.flush();
            return USER_ERROR;
        }
        err.println(cmd.getCommandSpec().qualifiedName() + ": internal error (a bug in radixlm, please report it):");
        e.printStackTrace(err);
        err.flush();
        return BUG;
    }

    static boolean isUserError(Throwable t) {
        return t instanceof UserException
                || t instanceof IllegalArgumentException // records and the engine validate their arguments
                || t instanceof ModelFormatException
                || t instanceof BackendUnavailableException
                || t instanceof InstallException
                || t instanceof ChatTemplateException
                || t instanceof IOException; // files the user named: missing, unreadable, disk full
    }

    private static String messageOf(Throwable t) {
        String message = t.getMessage();
        if (t instanceof java.nio.file.NoSuchFileException) return "file not found: " + message;
        if (t instanceof java.nio.file.AccessDeniedException) return "permission denied: " + message;
        return message == null ? t.getClass().getSimpleName() : message;
    }
}
