package io.radixlm.cuda;

import jcuda.Pointer;
import jcuda.driver.CUevent;

import java.nio.ByteOrder;
import java.nio.IntBuffer;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

/**
 * Pinned host staging for a step's metadata (token ids, positions, slots, block tables, ...): the targets are
 * slices of one device allocation, mirrored by the staging memory, and one asynchronous copy on the device's
 * stream carries all of a step's values (each copy is an operation of a few microseconds on the GPU, between
 * two steps). A synchronous copy from the Java heap waits for the GPU to go idle. Before the staging memory is
 * rewritten, the previous step's copy is waited for (an event), so a copy never reads values of a later step.
 * The copy spans from the first target written to the end of the last: what lies between two targets of a copy
 * gets the staging's content again (a slice's last staged values, where it had any).
 */
final class StagedUpload implements AutoCloseable {
    private static final int EVENT_DISABLE_TIMING = 2; // CU_EVENT_DISABLE_TIMING

    private final CudaDevice device;
    private final DeviceMemory allocation;
    private final Pointer host = new Pointer();
    private final IntBuffer ints;
    private final CUevent copied = new CUevent();
    private boolean pending;
    private boolean closed;

    /** Staging as large as allocation, whose slices are the targets of {@link #copy}. */
    StagedUpload(CudaDevice device, DeviceMemory allocation) {
        if (allocation.bytes() % 4 != 0 || allocation.offsetInAllocation() != 0) {
            throw new IllegalArgumentException("an allocation of ints: " + allocation.bytes() + " bytes");
        }
        this.device = device;
        this.allocation = allocation;
        CudaDevice.check(cuMemAllocHost(host, allocation.bytes()), "cuMemAllocHost(" + allocation.bytes() + ")");
        ints = host.getByteBuffer(0, allocation.bytes()).order(ByteOrder.nativeOrder()).asIntBuffer();
        CudaDevice.check(cuEventCreate(copied, EVENT_DISABLE_TIMING), "cuEventCreate");
    }

    /** Enqueues one copy that puts values[i] at the start of targets[i] (slices of the allocation), for every i. */
    void copy(DeviceMemory[] targets, int[][] values) {
        if (targets.length != values.length) throw new IllegalArgumentException("one array per target");
        for (int i = 0; i < targets.length; i++) {
            if (!targets[i].isSliceOf(allocation)) throw new IllegalArgumentException("not a slice of the staged allocation");
            targets[i].requireElements(values[i].length, 4, "staged upload");
        }
        if (pending) CudaDevice.check(cuEventSynchronize(copied), "cuEventSynchronize");
        long first = Long.MAX_VALUE;
        long end = 0;
        for (int i = 0; i < targets.length; i++) {
            if (values[i].length == 0) continue;
            long offset = targets[i].offsetInAllocation();
            ints.put(Math.toIntExact(offset / 4), values[i]);
            first = Math.min(first, offset);
            end = Math.max(end, offset + 4L * values[i].length);
        }
        if (end > 0) {
            CudaDevice.check(cuMemcpyHtoDAsync(allocation.pointer().withByteOffset(first), host.withByteOffset(first),
                    end - first, device.stream()), "cuMemcpyHtoDAsync");
        }
        CudaDevice.check(cuEventRecord(copied, device.stream()), "cuEventRecord");
        pending = true;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (pending) cuEventSynchronize(copied);
        cuEventDestroy(copied);
        cuMemFreeHost(host);
    }
}
