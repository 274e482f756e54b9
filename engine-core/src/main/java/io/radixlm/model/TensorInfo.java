package io.radixlm.model;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param shape     row-major dimensions (empty for a scalar)
 * @param dataStart first byte, relative to the start of the data section (after the header)
 * @param dataEnd   one past the last byte, relative to the data section
 */
public record TensorInfo(String name, DType dtype, long[] shape, long dataStart, long dataEnd) {
    public TensorInfo {
        if (name == null || name.isEmpty()) throw new ModelFormatException("tensor name is empty");
        if (dtype == null) throw new ModelFormatException("tensor " + name + ": no dtype");
        shape = shape.clone();
        long numElements = 1;
        for (long d : shape) {
            if (d < 0) throw new ModelFormatException("tensor " + name + ": negative dimension " + d);
            try {
                numElements = Math.multiplyExact(numElements, d);
            } catch (ArithmeticException e) {
                throw new ModelFormatException("tensor " + name + ": shape " + Arrays.toString(shape) + " overflows");
            }
        }
        if (dataStart < 0 || dataEnd < dataStart) {
            throw new ModelFormatException("tensor " + name + ": bad data_offsets [" + dataStart + ", " + dataEnd + "]");
        }
        long expected = multiplyOrFail(name, numElements, dtype.byteSize());
        if (dataEnd - dataStart != expected) {
            throw new ModelFormatException("tensor " + name + ": data_offsets [" + dataStart + ", " + dataEnd
                    + "] hold " + (dataEnd - dataStart) + " bytes but shape " + Arrays.toString(shape)
                    + " of " + dtype + " needs " + expected);
        }
    }

    private static long multiplyOrFail(String name, long numElements, int byteSize) {
        try {
            return Math.multiplyExact(numElements, byteSize);
        } catch (ArithmeticException e) {
            throw new ModelFormatException("tensor " + name + ": size overflows");
        }
    }

    @Override
    public long[] shape() { return shape.clone(); }

    public long numElements() { return (dataEnd - dataStart) / dtype.byteSize(); }

    public long numBytes() { return dataEnd - dataStart; }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && dataStart == t.dataStart && dataEnd == t.dataEnd;
    }

    @Override
    public int hashCode() { return name.hashCode() * 31 + Arrays.hashCode(shape); }

    @Override
    public String toString() {
        return "TensorInfo[" + name + ", " + dtype + ", " + Arrays.toString(shape) + ", " + dataStart + ".." + dataEnd + "]";
    }
}
