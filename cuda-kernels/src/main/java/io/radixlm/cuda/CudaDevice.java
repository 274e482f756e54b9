package io.radixlm.cuda;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

/**
 * GPU 0 through JCuda's driver API: its primary context, one stream on which every kernel, copy and
 * cuBLAS call of the engine runs in order, and the module loaded from the kernels' fatbin.
 */
public final class CudaDevice implements AutoCloseable {
    /** CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / MINOR. */
    private static final int ATTR_CC_MAJOR = 75;
    private static final int ATTR_CC_MINOR = 76;
    /** CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT. */
    private static final int ATTR_MULTIPROCESSORS = 16;
    /** CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED (JCuda 12.6 does not name it). */
    private static final int NON_PORTABLE_CLUSTER_SIZE_ALLOWED = 14;

    /**
     * The kernels that open with pdlGate (common.cuh): on Hopper they are launched as programmatic dependents,
     * so that each starts (and a GEMV loads its weights) while the kernel before it finishes.
     * -Dradixlm.pdl=false launches every kernel plainly.
     */
    private static final List<String> DEPENDENT_KERNEL_PREFIXES = List.of(
            "gemv_rows", "gemv_residual_rows1", "gemv_norm_", "rope_angles", "fused_add_rms_norm_vec4", "rope_qk_norm_kv_write_v2_", "paged_attention_split_", "paged_attention_v3_",
            "attention_reduce_split", "silu_mul_vec4", "silu_mul_bf16_vec8", "embedding_gather_vec8", "gather_rows_bf16", "argmax_partial",
            "argmax_final", "add_bias_rows");

    private final String name;
    private final int computeCapability;
    private final int numMultiprocessors;
    private final AddressableStream stream = new AddressableStream();
    private final CUmodule module = new CUmodule();
    private final Map<String, AddressableFunction> functions = new HashMap<>();
    /** Per kernel name, once asked: whether it opens with pdlGate. */
    private final Map<String, Boolean> dependent = new HashMap<>();
    /** cuLaunchKernelEx; null before Hopper. */
    private final DependentLaunch dependentLaunch;
    /** Programmatic dependent launch: Hopper on, unless -Dradixlm.pdl=false. */
    private final boolean pdl;
    /** Kernels whose launches may use clusters past the portable 8 CTAs, once allowed. */
    private final java.util.Set<String> nonPortableClusters = new java.util.HashSet<>();
    private final Map<String, Integer> sharedBytesAllowed = new HashMap<>(); // per kernel, the dynamic bytes opted in

    private CudaDevice(String name, int computeCapability, int numMultiprocessors, byte[] fatbin) {
        this.name = name;
        this.computeCapability = computeCapability;
        this.numMultiprocessors = numMultiprocessors;
        check(cuStreamCreate(stream, 0), "cuStreamCreate");
        check(cuModuleLoadData(module, fatbin), "cuModuleLoadData (kernels.fatbin)");
        this.dependentLaunch = computeCapability >= 90 ? DependentLaunch.bind() : null;
        this.pdl = dependentLaunch != null && !"false".equals(System.getProperty("radixlm.pdl"));
    }

    /** Whether launches of kernel overlap the previous kernel's tail (programmatic dependent launch). */
    public boolean launchesAsDependent(String kernel) {
        return pdl && dependent.computeIfAbsent(kernel,
                k -> DEPENDENT_KERNEL_PREFIXES.stream().anyMatch(k::startsWith));
    }

    /** Why JCuda's driver binding failed to load, once known: later attempts only see NoClassDefFoundError. */
    private static volatile String driverLoadFailure;

    /** One sentence for a failed load of JCuda's native library (its message nests whole stack traces). */
    private static String driverLoadFailure(Throwable e) {
        if (e instanceof NoClassDefFoundError && driverLoadFailure != null) return driverLoadFailure;
        String detail = String.valueOf(e.getMessage());
        int newline = detail.indexOf('\n');
        String reason = detail.contains("libcuda.so") ? "no NVIDIA driver on this machine (libcuda.so.1 not found)"
                : "the CUDA driver library cannot be loaded: " + (newline < 0 ? detail : detail.substring(0, newline));
        driverLoadFailure = reason;
        return reason;
    }

    /** Opens GPU 0 and loads the kernels, or explains in one sentence why CUDA cannot be used here. */
    public static CudaDevice open() {
        byte[] fatbin = KernelImage.load();
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int rc = cuInit(0);
            if (rc != CUresult.CUDA_SUCCESS) {
                throw new CudaUnavailableException("no usable NVIDIA driver (cuInit: " + CUresult.stringFor(rc) + ")");
            }
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new CudaUnavailableException(driverLoadFailure(e), e);
        }
        int[] count = {0};
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (count[0] == 0) throw new CudaUnavailableException("no NVIDIA GPU found");
        CUdevice device = new CUdevice();
        check(cuDeviceGet(device, 0), "cuDeviceGet");
        int[] major = {0};
        int[] minor = {0};
        check(cuDeviceGetAttribute(major, ATTR_CC_MAJOR, device), "cuDeviceGetAttribute");
        check(cuDeviceGetAttribute(minor, ATTR_CC_MINOR, device), "cuDeviceGetAttribute");
        int[] multiprocessors = {0};
        check(cuDeviceGetAttribute(multiprocessors, ATTR_MULTIPROCESSORS, device), "cuDeviceGetAttribute");
        byte[] nameBytes = new byte[256];
        check(cuDeviceGetName(nameBytes, nameBytes.length, device), "cuDeviceGetName");
        String name = new String(nameBytes).trim().replace("\0", "");
        if (major[0] < 8) {
            throw new CudaUnavailableException(name + " has compute capability " + major[0] + "." + minor[0]
                    + "; radixlm needs 8.0 or newer");
        }
        CUcontext context = new CUcontext();
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        return new CudaDevice(name, major[0] * 10 + minor[0], multiprocessors[0], fatbin);
    }

    public String name() { return name; }

    /** e.g. 90 for an H100/H200. */
    public int computeCapability() { return computeCapability; }

    /** Streaming multiprocessors (132 on an H200): how many blocks run at once is a multiple of this. */
    public int numMultiprocessors() { return numMultiprocessors; }

    /** How many blocks of kernel (blockSize threads, sharedBytes of dynamic shared memory) one multiprocessor holds at once. */
    public int maxResidentBlocks(String kernel, int blockSize, int sharedBytes) {
        int[] numBlocks = {0};
        AddressableFunction function = functions.computeIfAbsent(kernel, this::loadFunction);
        allowSharedBytes(kernel, function, sharedBytes);  // else the count is for a launch that would be refused
        check(cuOccupancyMaxActiveBlocksPerMultiprocessor(numBlocks, function, blockSize, sharedBytes),
                "cuOccupancyMaxActiveBlocksPerMultiprocessor " + kernel);
        return Math.max(1, numBlocks[0]);
    }

    public DeviceMemory allocate(long bytes) { return new DeviceMemory(bytes); }

    /** Free and total device memory in bytes. */
    public long[] memoryInfo() {
        long[] free = {0};
        long[] total = {0};
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    /**
     * Static and dynamic shared memory past 48 KB together need the kernel's opt-in (cuFuncSetAttribute). Any
     * dynamic size is opted in, once per kernel and larger size: harmless below the limit, and no need to ask
     * the kernel's static size.
     */
    private void allowSharedBytes(String kernel, AddressableFunction function, int sharedBytes) {
        if (sharedBytes > sharedBytesAllowed.getOrDefault(kernel, 0)) {
            check(cuFuncSetAttribute(function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    sharedBytes), "cuFuncSetAttribute " + kernel);
            sharedBytesAllowed.put(kernel, sharedBytes);
        }
    }

    /** Launches kernel `name` of the fatbin on this device's stream (asynchronous). */
    public void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args) {
        AddressableFunction function = functions.computeIfAbsent(kernel, this::loadFunction);
        allowSharedBytes(kernel, function, sharedBytes);
        if (launchesAsDependent(kernel)) {
            check(dependentLaunch.launch(function.address(), stream.address(), grid, block, sharedBytes, args),
                    "launch " + kernel + " (programmatic dependent)");
        } else {
            check(cuLaunchKernel(function, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                    sharedBytes, stream, args.toPointer(), null), "launch " + kernel);
        }
    }

    /** Whether this GPU launches thread-block clusters (Hopper and later). */
    public boolean launchesClusters() { return dependentLaunch != null; }

    /**
     * Launches kernel in thread-block clusters of clusterSize CTAs along z (grid.z a multiple of it), as a dependent
     * launch when the kernel is one ({@link #launchesAsDependent}). Clusters past 8 CTAs (the portable size) are
     * allowed for the kernel on first use; the caller checks that they fit ({@link #maxActiveClusters}).
     */
    public void launchCluster(String kernel, Dim3 grid, Dim3 block, int clusterSize, KernelArgs args) {
        if (dependentLaunch == null) throw new IllegalStateException("thread-block clusters need compute capability 9.0: " + name);
        if (grid.z() % clusterSize != 0) throw new IllegalArgumentException("grid z " + grid.z() + " is not a multiple of " + clusterSize);
        AddressableFunction function = allowClusters(kernel, clusterSize);
        check(dependentLaunch.launch(function.address(), stream.address(), grid, block, 0, args,
                launchesAsDependent(kernel), new Dim3(1, 1, clusterSize)), "launch " + kernel + " (clusters of " + clusterSize + ")");
    }

    /**
     * How many clusters of clusterSize CTAs (along z, block threads each) of kernel can run at once on this GPU
     * (cuOccupancyMaxActiveClusters): a grid of more waits for a second wave.
     */
    public int maxActiveClusters(String kernel, int clusterSize, Dim3 grid, Dim3 block) {
        if (dependentLaunch == null) return 0;
        return dependentLaunch.maxActiveClusters(allowClusters(kernel, clusterSize).address(), grid, block,
                new Dim3(1, 1, clusterSize));
    }

    private AddressableFunction allowClusters(String kernel, int clusterSize) {
        AddressableFunction function = functions.computeIfAbsent(kernel, this::loadFunction);
        if (clusterSize > 8 && nonPortableClusters.add(kernel)) {
            check(cuFuncSetAttribute(function, NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1), "cuFuncSetAttribute " + kernel);
        }
        return function;
    }

    private AddressableFunction loadFunction(String kernel) {
        AddressableFunction function = new AddressableFunction();
        check(cuModuleGetFunction(function, module, kernel), "cuModuleGetFunction " + kernel);
        if (CARVEOUT != null) {
            check(cuFuncSetAttribute(function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
                    CARVEOUT), "cuFuncSetAttribute carveout " + kernel);
        }
        return function;
    }

    /**
     * -Dradixlm.carveout=P (0-100): every kernel prefers P% of its SM's L1/shared memory as shared memory, so that
     * kernels of different needs in one stream need not reconfigure the SM between them. Unset: the driver's choice.
     */
    private static final Integer CARVEOUT = Integer.getInteger("radixlm.carveout");

    CUstream stream() { return stream; }

    /** The stream's raw handle, for cuBLAS through java.lang.foreign. */
    long streamAddress() { return stream.address(); }

    /** Enqueues a copy of the first bytes of src into dst on this device's stream (device to device). */
    public void copy(DeviceMemory dst, DeviceMemory src, long bytes) {
        copy(dst, 0, src, 0, bytes);
    }

    /** Enqueues a copy of bytes from src at srcOffset into dst at dstOffset on this device's stream (device to device). */
    public void copy(DeviceMemory dst, long dstOffset, DeviceMemory src, long srcOffset, long bytes) {
        if (dstOffset < 0 || srcOffset < 0 || dstOffset + bytes > dst.bytes() || srcOffset + bytes > src.bytes()) {
            throw new IllegalArgumentException("copy of " + bytes + " bytes from offset " + srcOffset + " of " + src.bytes()
                    + " bytes to offset " + dstOffset + " of " + dst.bytes() + " bytes");
        }
        check(cuMemcpyDtoDAsync(dst.pointer().withByteOffset(dstOffset), src.pointer().withByteOffset(srcOffset), bytes,
                stream), "cuMemcpyDtoDAsync");
    }

    public void synchronize() { check(cuStreamSynchronize(stream), "cuStreamSynchronize"); }

    /** Milliseconds the GPU spent on what body enqueues, measured with CUDA events on the stream. */
    public float timeMillis(Runnable body) {
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        check(cuEventCreate(start, 0), "cuEventCreate");
        check(cuEventCreate(stop, 0), "cuEventCreate");
        try {
            check(cuEventRecord(start, stream), "cuEventRecord");
            body.run();
            check(cuEventRecord(stop, stream), "cuEventRecord");
            check(cuEventSynchronize(stop), "cuEventSynchronize");
            float[] millis = {0};
            check(cuEventElapsedTime(millis, start, stop), "cuEventElapsedTime");
            return millis[0];
        } finally {
            cuEventDestroy(start);
            cuEventDestroy(stop);
        }
    }

    static void check(int result, String what) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(what + " failed: " + CUresult.stringFor(result));
        }
    }

    @Override
    public void close() {
        cuModuleUnload(module);
        cuStreamDestroy(stream);
    }

    /** JCuda keeps the raw handle protected; cuBLAS and cuLaunchKernelEx need it as a number. */
    private static final class AddressableStream extends CUstream {
        long address() { return getNativePointer(); }
    }

    /** The same for a kernel's CUfunction handle. */
    private static final class AddressableFunction extends CUfunction {
        long address() { return getNativePointer(); }
    }
}
