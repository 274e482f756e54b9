package io.radixlm.cuda;

import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;

/**
 * One cuMemAlloc'd buffer. Copies are synchronous (they wait for the legacy default stream, which
 * waits for ours since it is a blocking stream). {@link #address()} is what kernels and cuBLAS take.
 */
public final class DeviceMemory implements AutoCloseable {
    private final AddressablePtr ptr;
    private final DeviceMemory parent; // a slice's allocation, null for an allocation
    private final long offset;         // a slice's first byte within parent
    private final long bytes;
    private boolean freed;

    DeviceMemory(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("allocation must be positive: " + bytes);
        this.ptr = new AddressablePtr();
        this.parent = null;
        this.offset = 0;
        this.bytes = bytes;
        CudaDevice.check(cuMemAlloc(ptr, bytes), "cuMemAlloc(" + bytes + ")");
    }

    private DeviceMemory(DeviceMemory parent, long offset, long bytes) {
        this.ptr = null;
        this.parent = parent;
        this.offset = offset;
        this.bytes = bytes;
    }

    /**
     * Bytes [offset, offset + bytes) of this buffer as a buffer of its own, without an allocation: valid while
     * this buffer is; closing it frees nothing.
     */
    DeviceMemory slice(long offset, long bytes) {
        if (offset < 0 || bytes <= 0 || offset + bytes > this.bytes) {
            throw new IllegalArgumentException("slice [" + offset + ", " + (offset + bytes) + ") of " + this.bytes + " bytes");
        }
        return parent != null ? parent.slice(this.offset + offset, bytes) : new DeviceMemory(this, offset, bytes);
    }

    /** Whether this is allocation itself or a slice of it. */
    boolean isSliceOf(DeviceMemory allocation) { return this == allocation || parent == allocation; }

    /** A slice's first byte within the allocation it is cut from (0 for an allocation). */
    long offsetInAllocation() { return offset; }

    public long bytes() { return bytes; }

    public long address() {
        if (parent != null) return parent.address() + offset;
        if (freed) throw new IllegalStateException("device memory already freed");
        return ptr.address();
    }

    /** Throws unless the buffer holds at least count elements of elementBytes each; names the buffer in the message. */
    public DeviceMemory requireElements(long count, int elementBytes, String what) {
        if (count * elementBytes > bytes) {
            throw new IllegalArgumentException(what + ": needs " + count + " elements of " + elementBytes
                    + " bytes, buffer holds " + bytes + " bytes");
        }
        return this;
    }

    public void copyFrom(float[] src) { copyIn(Pointer.to(src), (long) src.length * Sizeof.FLOAT); }

    public void copyFrom(int[] src) { copyIn(Pointer.to(src), (long) src.length * Sizeof.INT); }

    public void copyFrom(short[] src) { copyIn(Pointer.to(src), (long) src.length * Sizeof.SHORT); }

    public void copyFrom(double[] src) { copyIn(Pointer.to(src), (long) src.length * Sizeof.DOUBLE); }

    public void copyFrom(long[] src) { copyIn(Pointer.to(src), (long) src.length * Sizeof.LONG); }

    public float[] toFloats(int count) {
        float[] out = new float[count];
        copyOut(Pointer.to(out), (long) count * Sizeof.FLOAT);
        return out;
    }

    public int[] toInts(int count) {
        int[] out = new int[count];
        copyOut(Pointer.to(out), (long) count * Sizeof.INT);
        return out;
    }

    public short[] toShorts(int count) {
        short[] out = new short[count];
        copyOut(Pointer.to(out), (long) count * Sizeof.SHORT);
        return out;
    }

    /** The JCuda pointer, for driver calls such as device-to-device copies. */
    CUdeviceptr pointer() {
        if (parent != null) return parent.pointer().withByteOffset(offset);
        if (freed) throw new IllegalStateException("device memory already freed");
        return ptr;
    }

    /** Sets every byte; tests poison outputs with 0xFF (a float NaN, a bf16 NaN) so unwritten elements show. */
    public void fill(byte value) {
        CudaDevice.check(cuMemsetD8(pointer(), value, bytes), "cuMemsetD8");
    }

    private void copyIn(Pointer src, long count) {
        if (count > bytes) throw new IllegalArgumentException("copy of " + count + " bytes into " + bytes);
        CudaDevice.check(cuMemcpyHtoD(pointer(), src, count), "cuMemcpyHtoD");
    }

    private void copyOut(Pointer dst, long count) {
        if (count > bytes) throw new IllegalArgumentException("copy of " + count + " bytes out of " + bytes);
        CudaDevice.check(cuMemcpyDtoH(dst, pointer(), count), "cuMemcpyDtoH");
    }

    @Override
    public void close() {
        if (parent == null && !freed) {
            freed = true;
            cuMemFree(ptr);
        }
    }

    /** JCuda keeps the raw pointer protected; kernels and cuBLAS (through FFM) need it as a number. */
    private static final class AddressablePtr extends CUdeviceptr {
        long address() { return getNativePointer(); }
    }
}
