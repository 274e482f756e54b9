package io.radixlm.engine;

import io.radixlm.backend.Backend;

import java.util.function.Consumer;

/** Chooses and builds a backend: "cpu", "cuda", or "auto" (CUDA when a usable GPU is present, else CPU). */
public final class Backends {
    private Backends() { }

    /** Throws BackendUnavailableException (a user error) when the asked-for backend cannot run here. */
    public static Backend create(String kind, LoadedModel model, Consumer<String> log) {
        throw new UnsupportedOperationException("under construction");
    }

    /** The backend cannot run on this machine (no GPU, no driver, built without kernels, ...). */
    public static final class BackendUnavailableException extends RuntimeException {
        public BackendUnavailableException(String message) { super(message); }
    }
}
