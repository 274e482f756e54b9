package io.radixlm.cuda.bench;

import io.radixlm.model.ModelConfig;

/**
 * The arithmetic of the roofline: how many bytes a decode step must read and how many FLOPs a prefill
 * must do, for a model of the given shape with bf16 weights and KV. Decode reads every weight matrix
 * once per step (the embedding table only for the rows of the batch's tokens; a tied LM head is the
 * embedding and is counted once) plus the whole KV of every sequence.
 */
public final class StepCost {
    private static final int BF16_BYTES = 2;

    private StepCost() { }

    /** Parameters of one decoder layer: q/k/v/o, gate/up/down, the two norms (and qwen3's q/k norms, q/k/v bias). */
    public static long layerParams(ModelConfig c) {
        long h = c.hiddenSize();
        long attention = h * c.qDim() + 2 * h * c.kvDim() + (long) c.qDim() * h;
        long mlp = 3 * h * c.intermediateSize();
        long norms = 2 * h + (c.qkNorm() ? 2L * c.headDim() : 0);
        long bias = c.attentionBias() ? c.qDim() + 2L * c.kvDim() : 0;
        return attention + mlp + norms + bias;
    }

    /** All parameters of the model (the LM head counted only when it is not the embedding). */
    public static long totalParams(ModelConfig c) {
        long embedding = (long) c.vocabSize() * c.hiddenSize();
        return embedding + c.numLayers() * layerParams(c) + c.hiddenSize() + (c.tieWordEmbeddings() ? 0 : embedding);
    }

    /** Parameters a token's forward multiplies by: every layer, the final norm and the LM head (not the embedding lookup). */
    public static long matmulParams(ModelConfig c) {
        return c.numLayers() * layerParams(c) + c.hiddenSize() + (long) c.vocabSize() * c.hiddenSize();
    }

    /** Weight bytes one decode step of batchSize sequences reads: all layers, final norm, LM head, and batchSize embedding rows. */
    public static long weightBytesPerStep(ModelConfig c, int batchSize) {
        return BF16_BYTES * (matmulParams(c) + (long) batchSize * c.hiddenSize());
    }

    /** KV bytes a decode step reads when each of batchSize sequences attends over context tokens. */
    public static long kvBytesPerStep(ModelConfig c, int batchSize, int context) {
        return (long) batchSize * context * c.kvBytesPerToken(BF16_BYTES);
    }

    /** Bytes one decode step must read: weights plus KV. */
    public static long decodeBytesPerStep(ModelConfig c, int batchSize, int context) {
        return weightBytesPerStep(c, batchSize) + kvBytesPerStep(c, batchSize, context);
    }

    /**
     * FLOPs of attention in a causal prefill of n tokens: per layer and head, q·kᵀ and p·v over the
     * n(n+1)/2 (query, key) pairs, 2 FLOPs per multiply-add each.
     */
    public static double prefillAttentionFlops(ModelConfig c, int n) {
        double pairs = (double) n * (n + 1) / 2;
        return 4.0 * c.numLayers() * c.numHeads() * c.headDim() * pairs;
    }

    /**
     * FLOPs of a prefill of n tokens that returns the logits of its last token (as the engine does):
     * 2 · layer params · n for the projections and MLP, the LM head once, plus attention.
     */
    public static double prefillFlops(ModelConfig c, int n) {
        double projections = 2.0 * (c.numLayers() * layerParams(c)) * n;
        double lmHead = 2.0 * c.vocabSize() * c.hiddenSize();
        return projections + lmHead + prefillAttentionFlops(c, n);
    }

    /** Bytes of K, V (bf16) and Q (f32) the decode attention kernel reads for batchSize queries over context tokens, one layer. */
    public static long attentionBytes(ModelConfig c, int batchSize, int context) {
        long kv = (long) batchSize * context * 2L * c.kvDim() * BF16_BYTES;
        long q = (long) batchSize * c.qDim() * 4;
        return kv + q;
    }
}
