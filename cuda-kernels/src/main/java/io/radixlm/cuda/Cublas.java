package io.radixlm.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS through java.lang.foreign: JCublas 12.6.0 needs libcublas.so.12's versioned symbols and does
 * not load on a CUDA 13 machine, while the three calls we need are easy to bind ourselves. Every GEMM
 * runs on the device's stream, so it orders with our kernels and can be captured into a CUDA graph
 * (the workspace is set up front so that capture never allocates).
 */
public final class Cublas implements AutoCloseable {
    private static final int OP_N = 0;
    private static final int OP_T = 1;
    private static final int CUDA_R_32F = 0;
    private static final int CUDA_R_16BF = 14;
    private static final int CUBLAS_COMPUTE_32F = 68;
    private static final int CUBLAS_GEMM_DEFAULT = -1;
    private static final long WORKSPACE_BYTES = 32L << 20;
    private static final List<String> LIBRARIES = List.of(
            "libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.13",
            "/usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.13",
            "libcublas.so.12", "/usr/local/cuda/lib64/libcublas.so.12");

    private final Arena arena = Arena.ofShared();
    private final MethodHandle gemmEx;
    private final MethodHandle destroy;
    private final MemorySegment handle;
    private final MemorySegment one;
    private final MemorySegment zero;
    private final DeviceMemory workspace;

    public Cublas(CudaDevice device) {
        SymbolLookup lookup = openLibrary(arena);
        Linker linker = Linker.nativeLinker();
        MethodHandle create = bind(linker, lookup, "cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        MethodHandle setStream = bind(linker, lookup, "cublasSetStream_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        MethodHandle setWorkspace = bind(linker, lookup, "cublasSetWorkspace_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
        destroy = bind(linker, lookup, "cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        gemmEx = bind(linker, lookup, "cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        one = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1.0f);
        zero = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0.0f);
        MemorySegment handleOut = arena.allocate(ADDRESS);
        check(invoke(create, handleOut), "cublasCreate_v2");
        handle = handleOut.get(ADDRESS, 0);
        check(invoke(setStream, handle, device.streamAddress()), "cublasSetStream_v2");
        workspace = device.allocate(WORKSPACE_BYTES);
        check(invoke(setWorkspace, handle, workspace.address(), WORKSPACE_BYTES), "cublasSetWorkspace_v2");
    }

    /**
     * y (rows, outFeatures) float32 = x (rows, inFeatures) bf16 · w (outFeatures, inFeatures) bf16 ᵀ,
     * accumulated in float32: a linear layer with PyTorch's weight layout. Row-major y is column-major
     * yᵀ = w · xᵀ, hence the transposed A.
     */
    public void linear(DeviceMemory x, DeviceMemory w, DeviceMemory y, int rows, int inFeatures, int outFeatures) {
        x.requireElements((long) rows * inFeatures, 2, "linear x");
        w.requireElements((long) outFeatures * inFeatures, 2, "linear w");
        y.requireElements((long) rows * outFeatures, 4, "linear y");
        linear(x.address(), w.address(), y.address(), rows, inFeatures, outFeatures);
    }

    /** As {@link #linear(DeviceMemory, DeviceMemory, DeviceMemory, int, int, int)} on raw addresses (sub-buffers). */
    public void linear(long x, long w, long y, int rows, int inFeatures, int outFeatures) {
        gemm(x, w, y, CUDA_R_32F, zero, rows, inFeatures, outFeatures);
    }

    /**
     * As {@link #linear(DeviceMemory, DeviceMemory, DeviceMemory, int, int, int)} with y (rows, outFeatures)
     * bf16: the float32 sums rounded once to bf16 in the GEMM's epilogue, so that a consumer that wants bf16
     * (SwiGLU) reads half the bytes and the GEMM writes half.
     */
    public void linearBf16(DeviceMemory x, DeviceMemory w, DeviceMemory y, int rows, int inFeatures, int outFeatures) {
        x.requireElements((long) rows * inFeatures, 2, "linear x");
        w.requireElements((long) outFeatures * inFeatures, 2, "linear w");
        y.requireElements((long) rows * outFeatures, 2, "linear bf16 y");
        gemm(x.address(), w.address(), y.address(), CUDA_R_16BF, zero, rows, inFeatures, outFeatures);
    }

    /**
     * y (rows, outFeatures) float32 += x · wᵀ (beta = 1): a linear layer added straight into the residual
     * stream, so that its output is not written and read back once more. With alpha = beta = 1 each element
     * is y + acc in float32, the sum a separate add of {@link #linear}'s output would make, unless cuBLAS
     * picks a differently ordered kernel for beta = 1.
     */
    public void linearAccumulate(DeviceMemory x, DeviceMemory w, DeviceMemory y, int rows, int inFeatures, int outFeatures) {
        x.requireElements((long) rows * inFeatures, 2, "linear x");
        w.requireElements((long) outFeatures * inFeatures, 2, "linear w");
        y.requireElements((long) rows * outFeatures, 4, "linear accumulate y");
        gemm(x.address(), w.address(), y.address(), CUDA_R_32F, one, rows, inFeatures, outFeatures);
    }

    /** y = x · wᵀ + beta · y with float32 accumulation; yType CUDA_R_32F or CUDA_R_16BF. */
    private void gemm(long x, long w, long y, int yType, MemorySegment beta, int rows, int inFeatures, int outFeatures) {
        check(invoke(gemmEx, handle, OP_T, OP_N, outFeatures, rows, inFeatures,
                one, w, CUDA_R_16BF, inFeatures, x, CUDA_R_16BF, inFeatures,
                beta, y, yType, outFeatures, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    @SuppressWarnings("restricted") // native access is the point; scripts start Java with --enable-native-access
    private static SymbolLookup openLibrary(Arena arena) {
        StringBuilder tried = new StringBuilder();
        for (String library : LIBRARIES) {
            try {
                return SymbolLookup.libraryLookup(library, arena);
            } catch (IllegalArgumentException e) {
                tried.append(' ').append(library);
            }
        }
        throw new CudaUnavailableException("cuBLAS not found (tried" + tried + "); install CUDA 13's cuBLAS");
    }

    @SuppressWarnings("restricted")
    private static MethodHandle bind(Linker linker, SymbolLookup lookup, String symbol, FunctionDescriptor descriptor) {
        MemorySegment address = lookup.find(symbol)
                .orElseThrow(() -> new CudaUnavailableException("cuBLAS lacks " + symbol));
        return linker.downcallHandle(address, descriptor);
    }

    private static int invoke(MethodHandle function, Object... args) {
        try {
            return (int) function.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new CudaException("cuBLAS call failed: " + t);
        }
    }

    private static void check(int status, String what) {
        if (status != 0) throw new CudaException(what + " returned cuBLAS status " + status);
    }

    @Override
    public void close() {
        invoke(destroy, handle);
        workspace.close();
        arena.close();
    }
}
