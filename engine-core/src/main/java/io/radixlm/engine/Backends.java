package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.CpuBackend;

import java.util.function.Consumer;

/**
 * The CPU reference backend, and the error every backend choice reports. Choosing between CPU and CUDA
 * ("auto", "cuda") happens in cuda-kernels' BackendChooser, the one place that can see both.
 */
public final class Backends {
    private Backends() { }

    /** The float32 CPU reference backend over the model's weights. */
    public static Backend cpu(LoadedModel model, Consumer<String> log) {
        log.accept("backend: cpu (float32 reference)");
        return new CpuBackend(model.config(), model.weights());
    }

    /** The backend cannot run on this machine (no GPU, no driver, built without kernels, ...). */
    public static final class BackendUnavailableException extends RuntimeException {
        public BackendUnavailableException(String message) { super(message); }
    }
}
