package io.radixlm.cli;

/** Something the user asked for that cannot be done as asked; reported as one line, exit code 2. */
final class UserException extends RuntimeException {
    UserException(String message) { super(message); }
}
