package io.radixlm.backend;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.TensorNames;
import io.radixlm.model.WeightSource;

import java.util.ArrayList;
import java.util.List;

/**
 * All weights of a model as float32 arrays on the heap, read once from a {@link WeightSource} under
 * HF's tensor names. {@link TensorNames#validate} checks every tensor's presence and shape before any
 * is read, so a model that does not fit its config fails fast with one message.
 *
 * @param embedding (vocab, hidden)
 * @param finalNorm (hidden)
 * @param lmHead    (vocab, hidden): lm_head.weight, or the embedding when tie_word_embeddings
 */
record CpuWeights(float[] embedding, List<Layer> layers, float[] finalNorm, Linear lmHead) {

    /**
     * One decoder layer.
     *
     * @param inputNorm         (hidden)
     * @param qNorm             (headDim) or null (only Qwen3 normalises q and k per head)
     * @param kNorm             (headDim) or null
     * @param postAttentionNorm (hidden)
     */
    record Layer(float[] inputNorm, Linear q, Linear k, Linear v, float[] qNorm, float[] kNorm, Linear o,
                 float[] postAttentionNorm, Linear gate, Linear up, Linear down) { }

    static CpuWeights load(ModelConfig config, WeightSource source) {
        TensorNames.validate(config, source);
        float[] embedding = source.readFloats(TensorNames.embedTokens());
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) layers.add(loadLayer(config, source, l));
        float[] finalNorm = source.readFloats(TensorNames.finalNorm());
        float[] lmHeadWeight = config.tieWordEmbeddings() ? embedding : source.readFloats(TensorNames.lmHead());
        return new CpuWeights(embedding, List.copyOf(layers), finalNorm,
                new Linear(lmHeadWeight, null, config.hiddenSize(), config.vocabSize()));
    }

    private static Layer loadLayer(ModelConfig c, WeightSource s, int l) {
        int hidden = c.hiddenSize();
        boolean qkvBias = c.attentionBias();
        return new Layer(
                s.readFloats(TensorNames.layer(l, "input_layernorm.weight")),
                linear(s, l, "self_attn.q_proj", qkvBias, hidden, c.qDim()),
                linear(s, l, "self_attn.k_proj", qkvBias, hidden, c.kvDim()),
                linear(s, l, "self_attn.v_proj", qkvBias, hidden, c.kvDim()),
                c.qkNorm() ? s.readFloats(TensorNames.layer(l, "self_attn.q_norm.weight")) : null,
                c.qkNorm() ? s.readFloats(TensorNames.layer(l, "self_attn.k_norm.weight")) : null,
                linear(s, l, "self_attn.o_proj", TensorNames.hasOutputBias(c), c.qDim(), hidden),
                s.readFloats(TensorNames.layer(l, "post_attention_layernorm.weight")),
                linear(s, l, "mlp.gate_proj", false, hidden, c.intermediateSize()),
                linear(s, l, "mlp.up_proj", false, hidden, c.intermediateSize()),
                linear(s, l, "mlp.down_proj", false, c.intermediateSize(), hidden));
    }

    private static Linear linear(WeightSource s, int l, String module, boolean hasBias, int inDim, int outDim) {
        float[] bias = hasBias ? s.readFloats(TensorNames.layer(l, module + ".bias")) : null;
        return new Linear(s.readFloats(TensorNames.layer(l, module + ".weight")), bias, inDim, outDim);
    }
}
