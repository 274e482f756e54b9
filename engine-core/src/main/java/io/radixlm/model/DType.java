package io.radixlm.model;

/** Tensor element types a model file may hold; the safetensors name and the byte size of one element. */
public enum DType {
    BF16("BF16", 2),
    F16("F16", 2),
    F32("F32", 4);

    private final String safetensorsName;
    private final int byteSize;

    DType(String safetensorsName, int byteSize) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
    }

    public String safetensorsName() { return safetensorsName; }

    public int byteSize() { return byteSize; }

    /** The dtype for a safetensors header name, or an error naming the ones we support. */
    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) return t;
        }
        throw new ModelFormatException("unsupported tensor dtype '" + name + "' (supported: BF16, F16, F32)");
    }
}
