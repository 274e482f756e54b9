package io.radixlm.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** The fatbin that nvcc built from src/main/cuda during the Maven build (absent when nvcc was missing). */
public final class KernelImage {
    static final String RESOURCE = "/io/radixlm/cuda/kernels.fatbin";

    private KernelImage() { }

    public static boolean isAvailable() {
        return KernelImage.class.getResource(RESOURCE) != null;
    }

    /** The fatbin's bytes, as cuModuleLoadData takes them. */
    public static byte[] load() {
        try (InputStream in = KernelImage.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new CudaUnavailableException(
                        "radixlm was built without CUDA kernels (nvcc was not found at build time); rebuild with CUDA 13 installed");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }
}
