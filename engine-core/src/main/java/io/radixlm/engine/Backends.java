package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.CpuBackend;

import java.util.function.Consumer;

/** Chooses and builds a backend: "cpu", "cuda", or "auto" (CUDA when a usable GPU is present, else CPU). */
public final class Backends {
    private Backends() { }

    /** Throws BackendUnavailableException (a user error) when the asked-for backend cannot run here. */
    public static Backend create(String kind, LoadedModel model, Consumer<String> log) {
        switch (kind) {
            case "cpu" -> {
                log.accept("backend: cpu (float32 reference)");
                return new CpuBackend(model.config(), model.weights());
            }
            case "cuda" -> throw new BackendUnavailableException(
                    "the CUDA backend is not built yet in this version; use --backend cpu");
            case "auto" -> {
                log.accept("backend: cpu (no CUDA backend in this build)");
                return new CpuBackend(model.config(), model.weights());
            }
            default -> throw new BackendUnavailableException("unknown backend '" + kind + "' (auto, cpu, cuda)");
        }
    }

    /** The backend cannot run on this machine (no GPU, no driver, built without kernels, ...). */
    public static final class BackendUnavailableException extends RuntimeException {
        public BackendUnavailableException(String message) { super(message); }
    }
}
