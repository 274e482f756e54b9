package io.radixlm.cuda;

import jcuda.Pointer;

import java.util.ArrayList;
import java.util.List;

/** The parameter list of one kernel launch, in the kernel's parameter order. */
public final class KernelArgs {
    private final List<Pointer> values = new ArrayList<>();

    public KernelArgs ptr(DeviceMemory memory) { return ptr(memory.address()); }

    /** A device address; 0 passes a null pointer (an optional input the kernel skips). */
    public KernelArgs ptr(long address) {
        values.add(Pointer.to(new long[] {address}));
        return this;
    }

    public KernelArgs i32(int value) {
        values.add(Pointer.to(new int[] {value}));
        return this;
    }

    /** A 64-bit integer (long long / unsigned long long in the kernel). */
    public KernelArgs i64(long value) {
        values.add(Pointer.to(new long[] {value}));
        return this;
    }

    public KernelArgs f32(float value) {
        values.add(Pointer.to(new float[] {value}));
        return this;
    }

    Pointer toPointer() { return Pointer.to(values.toArray(new Pointer[0])); }
}
