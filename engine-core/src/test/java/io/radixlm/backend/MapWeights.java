package io.radixlm.backend;

import io.radixlm.model.DType;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.ModelFormatException;
import io.radixlm.model.TensorNames;
import io.radixlm.model.WeightSource;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

/** An in-memory WeightSource for tests: named float32 tensors with shapes. */
final class MapWeights implements WeightSource {

    private record Tensor(long[] shape, float[] values) { }

    private final Map<String, Tensor> tensors = new HashMap<>();

    MapWeights put(String name, float[] values, long... shape) {
        long size = 1;
        for (long d : shape) size *= d;
        if (size != values.length) throw new IllegalArgumentException(name + ": shape does not match values");
        tensors.put(name, new Tensor(shape.clone(), values.clone()));
        return this;
    }

    MapWeights remove(String name) {
        tensors.remove(name);
        return this;
    }

    /** Random weights (uniform in ±scale, norms near 1) for every tensor the config needs. */
    static MapWeights random(ModelConfig c, long seed) {
        Random rnd = new Random(seed);
        MapWeights w = new MapWeights();
        int h = c.hiddenSize();
        w.put("model.embed_tokens.weight", uniform(rnd, c.vocabSize() * h, 1f), c.vocabSize(), h);
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            w.put(p + "input_layernorm.weight", norm(rnd, h), h);
            w.put(p + "post_attention_layernorm.weight", norm(rnd, h), h);
            linear(w, rnd, p + "self_attn.q_proj", h, c.qDim(), c.attentionBias());
            linear(w, rnd, p + "self_attn.k_proj", h, c.kvDim(), c.attentionBias());
            linear(w, rnd, p + "self_attn.v_proj", h, c.kvDim(), c.attentionBias());
            linear(w, rnd, p + "self_attn.o_proj", c.qDim(), h, TensorNames.hasOutputBias(c));
            if (c.qkNorm()) {
                w.put(p + "self_attn.q_norm.weight", norm(rnd, c.headDim()), c.headDim());
                w.put(p + "self_attn.k_norm.weight", norm(rnd, c.headDim()), c.headDim());
            }
            linear(w, rnd, p + "mlp.gate_proj", h, c.intermediateSize(), false);
            linear(w, rnd, p + "mlp.up_proj", h, c.intermediateSize(), false);
            linear(w, rnd, p + "mlp.down_proj", c.intermediateSize(), h, false);
        }
        w.put("model.norm.weight", norm(rnd, h), h);
        if (!c.tieWordEmbeddings()) {
            w.put("lm_head.weight", uniform(rnd, c.vocabSize() * h, 0.2f), c.vocabSize(), h);
        }
        return w;
    }

    private static void linear(MapWeights w, Random rnd, String name, int in, int out, boolean bias) {
        w.put(name + ".weight", uniform(rnd, in * out, (float) (1 / Math.sqrt(in))), out, in);
        if (bias) w.put(name + ".bias", uniform(rnd, out, 0.1f), out);
    }

    private static float[] uniform(Random rnd, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (rnd.nextFloat() * 2 - 1) * scale;
        return a;
    }

    private static float[] norm(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = 0.8f + 0.4f * rnd.nextFloat();
        return a;
    }

    @Override
    public boolean contains(String name) { return tensors.containsKey(name); }

    @Override
    public long[] shape(String name) { return get(name).shape().clone(); }

    @Override
    public DType dtype(String name) {
        get(name);
        return DType.F32;
    }

    @Override
    public float[] readFloats(String name) { return get(name).values().clone(); }

    private Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new ModelFormatException("missing tensor " + name);
        return t;
    }

    @Override
    public void close() { }
}
