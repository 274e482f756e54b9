package io.radixlm.cuda;

import io.radixlm.backend.Backend;
import io.radixlm.engine.Backends;
import io.radixlm.engine.Backends.BackendUnavailableException;
import io.radixlm.engine.LoadedModel;

import java.util.function.Consumer;

/**
 * The --backend choice with the CUDA backend in reach (engine-core's {@link Backends} cannot see this
 * module): "cuda" is CUDA or a clear user error; "auto" is CUDA when a usable GPU is there, else the
 * CPU reference, and says which and why; "cpu" is the CPU reference; anything else is a user error.
 */
public final class BackendChooser {
    public static final double DEFAULT_GPU_MEMORY_FRACTION = 0.9;

    private BackendChooser() { }

    /** Throws BackendUnavailableException (a user error: exit code 2) when the asked-for backend cannot run here. */
    public static Backend create(String kind, LoadedModel model, double gpuMemoryFraction, Consumer<String> log) {
        switch (kind) {
            case "cuda" -> {
                return cuda(model, gpuMemoryFraction, log);
            }
            case "auto" -> {
                try {
                    return openCuda(model, gpuMemoryFraction, log);
                } catch (CudaUnavailableException e) {
                    log.accept("no usable GPU (" + e.getMessage() + "); using the CPU backend");
                    return Backends.cpu(model, log);
                }
            }
            case "cpu" -> {
                return Backends.cpu(model, log);
            }
            default -> throw new BackendUnavailableException("unknown backend '" + kind + "' (auto, cpu, cuda)");
        }
    }

    /** The CUDA backend, or BackendUnavailableException (exit code 2) saying why it cannot run here. */
    public static CudaBackend cuda(LoadedModel model, double gpuMemoryFraction, Consumer<String> log) {
        try {
            return openCuda(model, gpuMemoryFraction, log);
        } catch (CudaUnavailableException e) {
            throw new BackendUnavailableException("the CUDA backend cannot run here: " + e.getMessage());
        }
    }

    private static CudaBackend openCuda(LoadedModel model, double gpuMemoryFraction, Consumer<String> log) {
        CudaBackend backend = new CudaBackend(model.config(), model.weights(), gpuMemoryFraction);
        log.accept("backend: cuda on " + backend.deviceName() + " (bf16 weights and KV, float32 accumulation)");
        return backend;
    }
}
