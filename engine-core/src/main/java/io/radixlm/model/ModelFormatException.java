package io.radixlm.model;

/** A model directory or file that cannot be used: malformed, truncated, or of an unsupported kind. */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) { super(message); }

    public ModelFormatException(String message, Throwable cause) { super(message, cause); }
}
