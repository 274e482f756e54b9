package io.radixlm.cuda;

/** A CUDA driver or cuBLAS call failed after the device was opened (a bug or a broken GPU, not a user error). */
public class CudaException extends RuntimeException {
    public CudaException(String message) { super(message); }
}
