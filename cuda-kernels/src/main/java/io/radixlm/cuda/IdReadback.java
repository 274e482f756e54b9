package io.radixlm.cuda;

import io.radixlm.backend.PendingIds;
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
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;

/**
 * Sampled ids copied back behind their step into pinned host memory, so that the host can enqueue the
 * next step before it reads them. Two slots alternate: a step's slot is taken again two steps later, and
 * if its ids were not read by then they are read first, so none is overwritten unread.
 */
final class IdReadback implements AutoCloseable {
    private static final int EVENT_DISABLE_TIMING = 2; // CU_EVENT_DISABLE_TIMING

    private final CudaDevice device;
    private final Slot[] slots = {new Slot(), new Slot()};
    private int next;
    private boolean closed;

    IdReadback(CudaDevice device) {
        this.device = device;
        for (Slot slot : slots) CudaDevice.check(cuEventCreate(slot.copied, EVENT_DISABLE_TIMING), "cuEventCreate");
    }

    /**
     * Enqueues the copy of sampled's first numRows ids on the stream, behind what is already there.
     *
     * @param step the number of the step that wrote them (see {@link Pending#step})
     */
    Pending enqueue(DeviceMemory sampled, int numRows, long step) {
        if (closed) throw new IllegalStateException("closed");
        Slot slot = slots[next];
        next ^= 1;
        if (slot.pending != null) slot.pending.read();
        slot.ensureCapacity(numRows);
        sampled.requireElements(numRows, 4, "sampled ids");
        if (numRows > 0) {
            CudaDevice.check(cuMemcpyDtoHAsync(slot.host, sampled.pointer(), 4L * numRows, device.stream()),
                    "cuMemcpyDtoHAsync");
        }
        CudaDevice.check(cuEventRecord(slot.copied, device.stream()), "cuEventRecord");
        slot.pending = new Pending(this, slot, numRows, step);
        return slot.pending;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Slot slot : slots) {
            if (slot.pending != null) cuEventSynchronize(slot.copied);
            cuEventDestroy(slot.copied);
            if (slot.capacity > 0) cuMemFreeHost(slot.host);
        }
    }

    /** The ids of one step; -1 in a row marks logits that were not finite (the argmax's and sample_rows' mark). */
    static final class Pending implements PendingIds {
        private final IdReadback owner;
        private final Slot slot;
        private final int numRows;
        private final long step;
        private int[] ids;

        private Pending(IdReadback owner, Slot slot, int numRows, long step) {
            this.owner = owner;
            this.slot = slot;
            this.numRows = numRows;
            this.step = step;
        }

        /** Whether these ids were copied back by readback (a backend's ids are in its own buffers only). */
        boolean cameFrom(IdReadback readback) { return owner == readback; }

        /** The number of the step that sampled these ids: they are still in its device buffer while no later step ran. */
        long step() { return step; }

        int numRows() { return numRows; }

        @Override
        public int[] await() {
            return checkFinite(read());
        }

        /** The ids once the copy is done, unchecked. */
        private int[] read() {
            if (ids == null) {
                CudaDevice.check(cuEventSynchronize(slot.copied), "cuEventSynchronize");
                int[] copied = new int[numRows];
                slot.ints.get(0, copied);
                slot.pending = null;
                ids = copied;
            }
            return ids;
        }
    }

    /** ids, unless a row holds the -1 of logits that were not finite. */
    static int[] checkFinite(int[] ids) {
        for (int r = 0; r < ids.length; r++) {
            if (ids[r] < 0) {
                throw new IllegalArgumentException("logit row " + r + " holds a NaN or an infinity: the model produced"
                        + " non-finite values, nothing can be sampled");
            }
        }
        return ids;
    }

    private static final class Slot {
        final CUevent copied = new CUevent();
        final Pointer host = new Pointer();
        IntBuffer ints;
        int capacity; // ints
        Pending pending;

        /** Grows the pinned memory; only called when no copy into it is pending. */
        void ensureCapacity(int numRows) {
            if (numRows <= capacity) return;
            if (capacity > 0) CudaDevice.check(cuMemFreeHost(host), "cuMemFreeHost");
            int grown = Math.max(256, Integer.highestOneBit(numRows - 1) << 1);
            CudaDevice.check(cuMemAllocHost(host, 4L * grown), "cuMemAllocHost");
            ints = host.getByteBuffer(0, 4L * grown).order(ByteOrder.nativeOrder()).asIntBuffer();
            capacity = grown;
        }
    }
}
