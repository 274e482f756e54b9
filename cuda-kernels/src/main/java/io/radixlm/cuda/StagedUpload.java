package io.radixlm.cuda;

import jcuda.Pointer;
import jcuda.driver.CUevent;

import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

/**
 * Pinned host staging for a step's metadata (token ids, positions, slots, block tables, ...): each
 * buffer is copied with one asynchronous copy on the device's stream. A synchronous copy from the Java
 * heap waits for the GPU to go idle and costs several microseconds, six of them per decode step. Every
 * target buffer has its own region of the staging memory; before the regions are rewritten, the
 * previous step's copies are waited for (an event), so a copy never reads values of a later step.
 */
final class StagedUpload implements AutoCloseable {
    private static final int EVENT_DISABLE_TIMING = 2; // CU_EVENT_DISABLE_TIMING

    private final CudaDevice device;
    private final Pointer host = new Pointer();
    private final IntBuffer ints;
    private final Map<DeviceMemory, Integer> offsets = new IdentityHashMap<>(); // in ints
    private final CUevent copied = new CUevent();
    private boolean pending;
    private boolean closed;

    /** Staging regions as large as each target (int buffers). */
    StagedUpload(CudaDevice device, List<DeviceMemory> targets) {
        this.device = device;
        long totalBytes = 0;
        for (DeviceMemory target : targets) {
            if (target.bytes() % 4 != 0) throw new IllegalArgumentException("int buffers only: " + target.bytes() + " bytes");
            offsets.put(target, Math.toIntExact(totalBytes / 4));
            totalBytes += target.bytes();
        }
        CudaDevice.check(cuMemAllocHost(host, totalBytes), "cuMemAllocHost(" + totalBytes + ")");
        ints = host.getByteBuffer(0, totalBytes).order(ByteOrder.nativeOrder()).asIntBuffer();
        CudaDevice.check(cuEventCreate(copied, EVENT_DISABLE_TIMING), "cuEventCreate");
    }

    /** Enqueues copies of values[i] into the start of targets[i] (buffers given at construction) on the stream. */
    void copy(DeviceMemory[] targets, int[][] values) {
        if (targets.length != values.length) throw new IllegalArgumentException("one array per target");
        if (pending) CudaDevice.check(cuEventSynchronize(copied), "cuEventSynchronize");
        for (int i = 0; i < targets.length; i++) {
            Integer offset = offsets.get(targets[i]);
            if (offset == null) throw new IllegalArgumentException("not a staged buffer");
            long bytes = 4L * values[i].length;
            if (bytes == 0) continue;
            targets[i].requireElements(values[i].length, 4, "staged upload");
            ints.put(offset, values[i]);
            CudaDevice.check(cuMemcpyHtoDAsync(targets[i].pointer(), host.withByteOffset(4L * offset), bytes,
                    device.stream()), "cuMemcpyHtoDAsync");
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
