package io.radixlm.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The Hugging Face tensor names of the supported decoder architectures, which tensors an
 * architecture needs, and their expected shapes ([out_features, in_features] for linear weights).
 */
public final class TensorNames {
    private TensorNames() {}

    public static String embedTokens() { return "model.embed_tokens.weight"; }

    public static String finalNorm() { return "model.norm.weight"; }

    public static String lmHead() { return "lm_head.weight"; }

    /** A per-layer tensor, e.g. layer(3, "self_attn.q_proj.weight") = "model.layers.3.self_attn.q_proj.weight". */
    public static String layer(int i, String suffix) { return "model.layers." + i + "." + suffix; }

    /**
     * transformers biases o_proj exactly when llama or qwen3 set attention_bias; qwen2 biases only q/k/v.
     * A backend applying attention biases must add model.layers.N.self_attn.o_proj.bias when this is true.
     */
    public static boolean hasOutputBias(ModelConfig c) {
        return c.attentionBias() && !c.modelType().equals("qwen2");
    }

    /** Every tensor the architecture reads, in forward order. */
    public static List<String> required(ModelConfig c) {
        return expectedShapes(c).stream().map(Expected::name).toList();
    }

    /**
     * Checks that every required tensor is present with the expected shape; run before any tensor is
     * used so a wrong file fails with a message naming the tensor, not an index error mid-forward.
     */
    public static void validate(ModelConfig c, WeightSource w) {
        for (Expected e : expectedShapes(c)) {
            if (!w.contains(e.name())) throw new ModelFormatException("model is missing tensor " + e.name());
            long[] actual = w.shape(e.name());
            if (!Arrays.equals(actual, e.shape())) {
                throw new ModelFormatException("tensor " + e.name() + " has shape " + Arrays.toString(actual)
                        + ", expected " + Arrays.toString(e.shape()) + " from config.json");
            }
        }
    }

    /** A tensor name with the shape config.json implies for it. */
    public record Expected(String name, long[] shape) {
        public Expected {
            shape = shape.clone();
        }

        @Override
        public long[] shape() { return shape.clone(); }
    }

    public static List<Expected> expectedShapes(ModelConfig c) {
        long hidden = c.hiddenSize();
        List<Expected> out = new ArrayList<>();
        out.add(new Expected(embedTokens(), new long[] {c.vocabSize(), hidden}));
        for (int i = 0; i < c.numLayers(); i++) {
            addLayer(out, c, i);
        }
        out.add(new Expected(finalNorm(), new long[] {hidden}));
        if (!c.tieWordEmbeddings()) out.add(new Expected(lmHead(), new long[] {c.vocabSize(), hidden}));
        return out;
    }

    private static void addLayer(List<Expected> out, ModelConfig c, int i) {
        long hidden = c.hiddenSize();
        long qDim = c.qDim();
        long kvDim = c.kvDim();
        long inter = c.intermediateSize();
        out.add(new Expected(layer(i, "input_layernorm.weight"), new long[] {hidden}));
        out.add(new Expected(layer(i, "self_attn.q_proj.weight"), new long[] {qDim, hidden}));
        out.add(new Expected(layer(i, "self_attn.k_proj.weight"), new long[] {kvDim, hidden}));
        out.add(new Expected(layer(i, "self_attn.v_proj.weight"), new long[] {kvDim, hidden}));
        if (c.attentionBias()) {
            out.add(new Expected(layer(i, "self_attn.q_proj.bias"), new long[] {qDim}));
            out.add(new Expected(layer(i, "self_attn.k_proj.bias"), new long[] {kvDim}));
            out.add(new Expected(layer(i, "self_attn.v_proj.bias"), new long[] {kvDim}));
        }
        if (c.qkNorm()) {
            out.add(new Expected(layer(i, "self_attn.q_norm.weight"), new long[] {c.headDim()}));
            out.add(new Expected(layer(i, "self_attn.k_norm.weight"), new long[] {c.headDim()}));
        }
        out.add(new Expected(layer(i, "self_attn.o_proj.weight"), new long[] {hidden, qDim}));
        if (hasOutputBias(c)) out.add(new Expected(layer(i, "self_attn.o_proj.bias"), new long[] {hidden}));
        out.add(new Expected(layer(i, "post_attention_layernorm.weight"), new long[] {hidden}));
        out.add(new Expected(layer(i, "mlp.gate_proj.weight"), new long[] {inter, hidden}));
        out.add(new Expected(layer(i, "mlp.up_proj.weight"), new long[] {inter, hidden}));
        out.add(new Expected(layer(i, "mlp.down_proj.weight"), new long[] {hidden, inter}));
    }
}
