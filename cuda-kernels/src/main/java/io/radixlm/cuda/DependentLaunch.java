package io.radixlm.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Programmatic dependent launch (Hopper): cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
 * which lets a kernel start while the kernel before it on the stream is still finishing. The kernel must then
 * execute griddepcontrol.wait (pdlWait in common.cuh) before it reads anything an earlier kernel wrote and before it
 * writes anything, and every CTA must reach it (so that the kernel's completion still implies its predecessor's).
 * What a kernel does before the wait (a GEMV loading its weights) overlaps the previous kernel's tail. JCuda 12.6
 * has no cuLaunchKernelEx, so it is bound here through java.lang.foreign, as cuBLAS is; a captured launch becomes
 * a graph node with a programmatic edge.
 */
final class DependentLaunch {
    /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION. */
    private static final int ATTRIBUTE_PROGRAMMATIC_SERIALIZATION = 6;
    /** CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION: value.clusterDim {x, y, z}. */
    private static final int ATTRIBUTE_CLUSTER_DIMENSION = 4;
    /** sizeof(CUlaunchAttribute): a 4-byte id padded to 8, then a 64-byte value union. */
    private static final long ATTRIBUTE_BYTES = 72;
    /** sizeof(CUlaunchConfig): six grid/block dims, sharedMemBytes, stream, attrs, numAttrs (x86-64 layout). */
    private static final long CONFIG_BYTES = 56;

    /** Most parameters of one kernel (ours have at most 20). */
    private static final int MAX_PARAMS = 32;

    private final MethodHandle launchKernelEx;
    private final MethodHandle maxActiveClusters;
    // Built once and refilled per launch (launches are serialised on the device's one stream anyway): allocating
    // them per call showed up as tens of µs of host time per eager launch.
    private final MemorySegment config;
    private final MemorySegment values;
    private final MemorySegment params;
    /** Two attributes: [0] programmatic serialization, [1] cluster dimension; a launch names a run of them. */
    private final MemorySegment attributes;

    private DependentLaunch(MethodHandle launchKernelEx, MethodHandle maxActiveClusters) {
        this.launchKernelEx = launchKernelEx;
        this.maxActiveClusters = maxActiveClusters;
        Arena arena = Arena.ofAuto();
        attributes = arena.allocate(2 * ATTRIBUTE_BYTES, 8);
        attributes.set(JAVA_INT, 0, ATTRIBUTE_PROGRAMMATIC_SERIALIZATION);
        attributes.set(JAVA_INT, 8, 1);  // value.programmaticStreamSerializationAllowed
        attributes.set(JAVA_INT, ATTRIBUTE_BYTES, ATTRIBUTE_CLUSTER_DIMENSION);
        config = arena.allocate(CONFIG_BYTES, 8);
        values = arena.allocate(8L * MAX_PARAMS, 8);
        params = arena.allocate(ADDRESS, MAX_PARAMS);
        for (int i = 0; i < MAX_PARAMS; i++) params.setAtIndex(ADDRESS, i, values.asSlice(8L * i, 8));
    }

    /** Binds cuLaunchKernelEx from the driver library that JCuda already loaded. */
    @SuppressWarnings("restricted") // native access is the point; scripts start Java with --enable-native-access
    static DependentLaunch bind() {
        SymbolLookup driver = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        MemorySegment symbol = driver.find("cuLaunchKernelEx")
                .orElseThrow(() -> new CudaUnavailableException("the CUDA driver lacks cuLaunchKernelEx"));
        MemorySegment occupancy = driver.find("cuOccupancyMaxActiveClusters")
                .orElseThrow(() -> new CudaUnavailableException("the CUDA driver lacks cuOccupancyMaxActiveClusters"));
        return new DependentLaunch(Linker.nativeLinker().downcallHandle(symbol,
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS)),
                Linker.nativeLinker().downcallHandle(occupancy, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS)));
    }

    /** Launches function (a raw CUfunction) on stream (a raw CUstream) with programmatic serialization allowed. */
    int launch(long function, long stream, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args) {
        return launch(function, stream, grid, block, sharedBytes, args, true, null);
    }

    /**
     * As above; programmatic: whether programmatic serialization is allowed; cluster: the thread-block cluster
     * (CTAs per cluster along x, y, z; the grid a multiple of it), or null for none.
     */
    synchronized int launch(long function, long stream, Dim3 grid, Dim3 block, int sharedBytes, KernelArgs args,
                            boolean programmatic, Dim3 cluster) {
        if (args.size() > MAX_PARAMS) throw new IllegalArgumentException(args.size() + " kernel parameters");
        if (cluster != null) setCluster(cluster);
        config.set(ADDRESS, 40, programmatic ? attributes : attributes.asSlice(ATTRIBUTE_BYTES));
        config.set(JAVA_INT, 48, (programmatic ? 1 : 0) + (cluster != null ? 1 : 0));
        setDims(grid, block, sharedBytes, stream);
        args.writeValues(values);
        try {
            return (int) launchKernelEx.invokeExact(config, function, params, MemorySegment.NULL);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuLaunchKernelEx failed: " + t);
        }
    }

    /** cuOccupancyMaxActiveClusters for a launch of function in clusters of cluster CTAs; 0 when the call fails. */
    synchronized int maxActiveClusters(long function, Dim3 grid, Dim3 block, Dim3 cluster) {
        setCluster(cluster);
        config.set(ADDRESS, 40, attributes.asSlice(ATTRIBUTE_BYTES));
        config.set(JAVA_INT, 48, 1);
        setDims(grid, block, 0, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) maxActiveClusters.invokeExact(count, function, config);
            return status == 0 ? count.get(JAVA_INT, 0) : 0;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuOccupancyMaxActiveClusters failed: " + t);
        }
    }

    /** The value of the cluster-dimension attribute: value.clusterDim {x, y, z}. */
    private void setCluster(Dim3 cluster) {
        attributes.set(JAVA_INT, ATTRIBUTE_BYTES + 8, cluster.x());
        attributes.set(JAVA_INT, ATTRIBUTE_BYTES + 12, cluster.y());
        attributes.set(JAVA_INT, ATTRIBUTE_BYTES + 16, cluster.z());
    }

    private void setDims(Dim3 grid, Dim3 block, int sharedBytes, long stream) {
        config.set(JAVA_INT, 0, grid.x());
        config.set(JAVA_INT, 4, grid.y());
        config.set(JAVA_INT, 8, grid.z());
        config.set(JAVA_INT, 12, block.x());
        config.set(JAVA_INT, 16, block.y());
        config.set(JAVA_INT, 20, block.z());
        config.set(JAVA_INT, 24, sharedBytes);
        config.set(JAVA_LONG, 32, stream);
    }
}
