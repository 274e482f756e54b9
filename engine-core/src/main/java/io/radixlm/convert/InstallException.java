package io.radixlm.convert;

/** The default model could not be installed; the message says why and what the user can do. */
public class InstallException extends RuntimeException {
    public InstallException(String message) { super(message); }

    public InstallException(String message, Throwable cause) { super(message, cause); }
}
