package io.radixlm.cuda;

/** CUDA cannot be used here: no driver, no GPU, a GPU older than compute capability 8.0, or a build without kernels. */
public class CudaUnavailableException extends RuntimeException {
    public CudaUnavailableException(String message) { super(message); }

    public CudaUnavailableException(String message, Throwable cause) { super(message, cause); }
}
