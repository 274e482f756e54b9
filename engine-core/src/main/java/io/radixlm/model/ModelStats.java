package io.radixlm.model;

/**
 * Size figures for {@code radixlm info}.
 *
 * @param parameterCount  weights the forward pass reads (a tied embedding counted once)
 * @param kvBytesPerToken 2 × layers × kv_heads × head_dim × bytes of the KV element type
 */
public record ModelStats(long parameterCount, long kvBytesPerToken) {
    public ModelStats {
        if (parameterCount <= 0 || kvBytesPerToken <= 0) {
            throw new IllegalArgumentException("parameter count and KV bytes per token must be positive");
        }
    }

    /** Counts parameters from the tensors' actual shapes in the file. */
    public static ModelStats of(ModelConfig c, WeightSource w, int kvElementBytes) {
        long count = 0;
        for (String name : TensorNames.required(c)) {
            long n = 1;
            for (long d : w.shape(name)) n = Math.multiplyExact(n, d);
            count = Math.addExact(count, n);
        }
        return new ModelStats(count, c.kvBytesPerToken(kvElementBytes));
    }

    /** Counts parameters from the shapes config.json implies (for a directory without weights). */
    public static ModelStats fromConfig(ModelConfig c, int kvElementBytes) {
        long count = 0;
        for (TensorNames.Expected e : TensorNames.expectedShapes(c)) {
            long n = 1;
            for (long d : e.shape()) n = Math.multiplyExact(n, d);
            count = Math.addExact(count, n);
        }
        return new ModelStats(count, c.kvBytesPerToken(kvElementBytes));
    }

    /** KV cache bytes for {@code batch} sequences of {@code context} tokens each. */
    public long kvBytes(long context, long batch) {
        if (context < 0 || batch < 0) throw new IllegalArgumentException("context and batch must be non-negative");
        return Math.multiplyExact(Math.multiplyExact(kvBytesPerToken, context), batch);
    }
}
