package io.radixlm.backend;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.ModelFormatException;
import io.radixlm.model.WeightSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * All weights of a model as float32 arrays on the heap, read once from a {@link WeightSource} under
 * HF's tensor names. Every tensor's presence and shape is checked before any is read, so a model that
 * does not fit its config fails fast with one message instead of an index error mid-forward.
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
        Map<String, long[]> expected = expectedShapes(config, source);
        validate(expected, source);
        int hidden = config.hiddenSize();
        float[] embedding = source.readFloats("model.embed_tokens.weight");
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) layers.add(loadLayer(config, source, "model.layers." + l + "."));
        float[] finalNorm = source.readFloats("model.norm.weight");
        float[] lmHeadWeight = config.tieWordEmbeddings() ? embedding : source.readFloats("lm_head.weight");
        return new CpuWeights(embedding, List.copyOf(layers), finalNorm,
                new Linear(lmHeadWeight, null, hidden, config.vocabSize()));
    }

    private static Layer loadLayer(ModelConfig c, WeightSource s, String prefix) {
        int hidden = c.hiddenSize();
        String attn = prefix + "self_attn.";
        String mlp = prefix + "mlp.";
        return new Layer(
                s.readFloats(prefix + "input_layernorm.weight"),
                linear(s, attn + "q_proj", hidden, c.qDim()),
                linear(s, attn + "k_proj", hidden, c.kvDim()),
                linear(s, attn + "v_proj", hidden, c.kvDim()),
                c.qkNorm() ? s.readFloats(attn + "q_norm.weight") : null,
                c.qkNorm() ? s.readFloats(attn + "k_norm.weight") : null,
                linear(s, attn + "o_proj", c.qDim(), hidden),
                s.readFloats(prefix + "post_attention_layernorm.weight"),
                linear(s, mlp + "gate_proj", hidden, c.intermediateSize()),
                linear(s, mlp + "up_proj", hidden, c.intermediateSize()),
                linear(s, mlp + "down_proj", c.intermediateSize(), hidden));
    }

    /** A bias is used whenever the file has one: Qwen2 has q/k/v biases, Llama with attention_bias also an o bias. */
    private static Linear linear(WeightSource s, String name, int inDim, int outDim) {
        float[] bias = s.contains(name + ".bias") ? s.readFloats(name + ".bias") : null;
        return new Linear(s.readFloats(name + ".weight"), bias, inDim, outDim);
    }

    /** Every tensor the config requires, with its shape, in file order of a typical checkpoint. */
    private static Map<String, long[]> expectedShapes(ModelConfig c, WeightSource source) {
        long hidden = c.hiddenSize();
        long inter = c.intermediateSize();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {c.vocabSize(), hidden});
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            shapes.put(p + "input_layernorm.weight", new long[] {hidden});
            putLinear(shapes, source, p + "self_attn.q_proj", hidden, c.qDim(), c.attentionBias());
            putLinear(shapes, source, p + "self_attn.k_proj", hidden, c.kvDim(), c.attentionBias());
            putLinear(shapes, source, p + "self_attn.v_proj", hidden, c.kvDim(), c.attentionBias());
            putLinear(shapes, source, p + "self_attn.o_proj", c.qDim(), hidden, false);
            if (c.qkNorm()) {
                shapes.put(p + "self_attn.q_norm.weight", new long[] {c.headDim()});
                shapes.put(p + "self_attn.k_norm.weight", new long[] {c.headDim()});
            }
            shapes.put(p + "post_attention_layernorm.weight", new long[] {hidden});
            putLinear(shapes, source, p + "mlp.gate_proj", hidden, inter, false);
            putLinear(shapes, source, p + "mlp.up_proj", hidden, inter, false);
            putLinear(shapes, source, p + "mlp.down_proj", inter, hidden, false);
        }
        shapes.put("model.norm.weight", new long[] {hidden});
        if (!c.tieWordEmbeddings()) shapes.put("lm_head.weight", new long[] {c.vocabSize(), hidden});
        return shapes;
    }

    /** The weight always; the bias when required, or when present (then its shape must fit too). */
    private static void putLinear(Map<String, long[]> shapes, WeightSource source, String name, long inDim,
                                  long outDim, boolean biasRequired) {
        shapes.put(name + ".weight", new long[] {outDim, inDim});
        if (biasRequired || source.contains(name + ".bias")) shapes.put(name + ".bias", new long[] {outDim});
    }

    private static void validate(Map<String, long[]> expected, WeightSource source) {
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            if (!source.contains(e.getKey())) {
                throw new ModelFormatException("missing tensor " + e.getKey());
            }
            long[] actual = source.shape(e.getKey());
            if (!Arrays.equals(actual, e.getValue())) {
                throw new ModelFormatException("tensor " + e.getKey() + " has shape " + Arrays.toString(actual)
                        + ", the config needs " + Arrays.toString(e.getValue()));
            }
        }
    }
}
