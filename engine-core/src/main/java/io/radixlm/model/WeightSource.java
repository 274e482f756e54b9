package io.radixlm.model;

/**
 * Named tensors of a model (HF names such as "model.layers.0.self_attn.q_proj.weight"), whatever
 * their file dtype. Implementations keep the file mapped; reading converts to float32.
 */
public interface WeightSource extends AutoCloseable {
    boolean contains(String name);

    /** Shape of the tensor, as stored (row-major, e.g. [out_features, in_features] for a linear weight). */
    long[] shape(String name);

    DType dtype(String name);

    /** The whole tensor as float32, row-major. Throws ModelFormatException if absent. */
    float[] readFloats(String name);

    @Override
    void close();
}
