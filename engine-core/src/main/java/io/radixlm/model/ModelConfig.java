package io.radixlm.model;

import java.util.List;

/**
 * The architecture of a decoder-only transformer as config.json describes it, normalised across the
 * supported model types (llama, mistral, qwen2, qwen3).
 *
 * @param modelType         config.json's model_type
 * @param attentionBias     q/k/v projections carry a bias (qwen2)
 * @param qkNorm            per-head RMSNorm on q and k before RoPE (qwen3)
 * @param eosTokenIds       from generation_config.json when present, else config.json; may be empty
 * @param torchDtype        the dtype the checkpoint declares (informational)
 */
public record ModelConfig(
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositionEmbeddings,
        double rmsNormEps,
        RopeConfig rope,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        boolean qkNorm,
        int bosTokenId,
        List<Integer> eosTokenIds,
        String torchDtype) {

    public ModelConfig {
        require(hiddenSize > 0, "hidden_size must be positive");
        require(intermediateSize > 0, "intermediate_size must be positive");
        require(numLayers > 0, "num_hidden_layers must be positive");
        require(numHeads > 0, "num_attention_heads must be positive");
        require(numKvHeads > 0 && numHeads % numKvHeads == 0,
                "num_key_value_heads must divide num_attention_heads");
        require(headDim > 0 && headDim % 2 == 0, "head_dim must be a positive even number");
        require(vocabSize > 0, "vocab_size must be positive");
        require(maxPositionEmbeddings > 0, "max_position_embeddings must be positive");
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new ModelFormatException("config.json: " + message);
    }

    /** Query heads per KV head (GQA group size). */
    public int groupSize() { return numHeads / numKvHeads; }

    public int qDim() { return numHeads * headDim; }

    public int kvDim() { return numKvHeads * headDim; }

    /** Bytes of K and V one token occupies in a cache of the given element size: 2 × layers × kv_heads × head_dim × bytes. */
    public long kvBytesPerToken(int elementBytes) {
        return 2L * numLayers * numKvHeads * headDim * elementBytes;
    }
}
