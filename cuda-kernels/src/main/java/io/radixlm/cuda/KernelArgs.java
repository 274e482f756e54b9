package io.radixlm.cuda;

import jcuda.Pointer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/** The parameter list of one kernel launch, in the kernel's parameter order. */
public final class KernelArgs {
    /** A parameter's raw bits and whether it is 8 bytes wide (pointers, long long) or 4 (int, float). */
    private record Value(long bits, boolean wide) { }

    private final List<Value> values = new ArrayList<>();

    public KernelArgs ptr(DeviceMemory memory) { return ptr(memory.address()); }

    /** A device address; 0 passes a null pointer (an optional input the kernel skips). */
    public KernelArgs ptr(long address) {
        values.add(new Value(address, true));
        return this;
    }

    public KernelArgs i32(int value) {
        values.add(new Value(value, false));
        return this;
    }

    /** A 64-bit integer (long long / unsigned long long in the kernel). */
    public KernelArgs i64(long value) {
        values.add(new Value(value, true));
        return this;
    }

    public KernelArgs f32(float value) {
        values.add(new Value(Float.floatToRawIntBits(value), false));
        return this;
    }

    /** For JCuda's cuLaunchKernel: a pointer to pointers to each value. */
    Pointer toPointer() {
        Pointer[] pointers = new Pointer[values.size()];
        for (int i = 0; i < pointers.length; i++) {
            Value v = values.get(i);
            pointers[i] = v.wide() ? Pointer.to(new long[] {v.bits()}) : Pointer.to(new int[] {(int) v.bits()});
        }
        return Pointer.to(pointers);
    }

    int size() { return values.size(); }

    /**
     * For the driver's cuLaunchKernelEx through java.lang.foreign: value i into bytes [8i, 8i + 8) of slots (the
     * kernelParams array points there), as a 64-bit or a 32-bit value.
     */
    void writeValues(MemorySegment slots) {
        for (int i = 0; i < values.size(); i++) {
            Value v = values.get(i);
            if (v.wide()) {
                slots.set(ValueLayout.JAVA_LONG, 8L * i, v.bits());
            } else {
                slots.set(ValueLayout.JAVA_INT, 8L * i, (int) v.bits());
            }
        }
    }
}
