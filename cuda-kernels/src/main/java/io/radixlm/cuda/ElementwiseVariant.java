package io.radixlm.cuda;

/**
 * Which generation of the prefill-sized elementwise kernels (silu_mul, rope_qk_norm_kv_write,
 * embedding_gather) runs. V2 (default): vectorised / many heads per block, bit-identical results.
 * V1 (-Dradixlm.elementwise.v1=true): the first kernels, kept for an A/B on the GPU and for the
 * bit-identity tests.
 */
public enum ElementwiseVariant {
    V1, V2;

    /** V2 unless the JVM was started with -Dradixlm.elementwise.v1=true. */
    public static ElementwiseVariant fromSystemProperty() {
        return Boolean.getBoolean("radixlm.elementwise.v1") ? V1 : V2;
    }
}
