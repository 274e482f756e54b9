package io.radixlm.cuda;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.TensorNames;
import io.radixlm.model.WeightSource;

import java.util.ArrayList;
import java.util.List;

/**
 * The model's weights in GPU memory as bf16 (converted from the file's f32/f16/bf16 on upload), with
 * q/k/v concatenated into one matrix and gate/up into another so that each is a single GEMM. Biases
 * stay float32 (they are added in float32 by the kernels).
 *
 * @param embedding (vocab, hidden) bf16
 * @param finalNorm (hidden) bf16
 * @param lmHead    (vocab, hidden) bf16: the embedding itself when tie_word_embeddings
 */
record CudaWeights(DeviceMemory embedding, List<Layer> layers, DeviceMemory finalNorm, DeviceMemory lmHead)
        implements AutoCloseable {

    /**
     * One decoder layer.
     *
     * @param inputNorm (hidden) bf16
     * @param qkv       (qDim + 2 kvDim, hidden) bf16: q_proj, k_proj, v_proj rows stacked
     * @param qkvBias   (qDim + 2 kvDim) f32, or null
     * @param qNorm     (headDim) bf16, or null (qwen3 only); kNorm likewise
     * @param o         (hidden, qDim) bf16
     * @param oBias     (hidden) f32, or null
     * @param postNorm  (hidden) bf16
     * @param gateUp    (2 intermediate, hidden) bf16: gate_proj rows then up_proj rows
     * @param down      (hidden, intermediate) bf16
     */
    record Layer(DeviceMemory inputNorm, DeviceMemory qkv, DeviceMemory qkvBias, DeviceMemory qNorm,
                 DeviceMemory kNorm, DeviceMemory o, DeviceMemory oBias, DeviceMemory postNorm,
                 DeviceMemory gateUp, DeviceMemory down) implements AutoCloseable {
        @Override
        public void close() {
            for (DeviceMemory m : new DeviceMemory[] {inputNorm, qkv, qkvBias, qNorm, kNorm, o, oBias, postNorm, gateUp, down}) {
                if (m != null) m.close();
            }
        }
    }

    static CudaWeights upload(CudaDevice device, ModelConfig config, WeightSource source) {
        TensorNames.validate(config, source);
        DeviceMemory embedding = bf16(device, source.readFloats(TensorNames.embedTokens()));
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) layers.add(uploadLayer(device, config, source, l));
        DeviceMemory finalNorm = bf16(device, source.readFloats(TensorNames.finalNorm()));
        DeviceMemory lmHead = config.tieWordEmbeddings() ? embedding : bf16(device, source.readFloats(TensorNames.lmHead()));
        return new CudaWeights(embedding, List.copyOf(layers), finalNorm, lmHead);
    }

    private static Layer uploadLayer(CudaDevice device, ModelConfig c, WeightSource s, int l) {
        DeviceMemory qkvBias = null;
        if (c.attentionBias()) {
            qkvBias = f32(device, concat(read(s, l, "self_attn.q_proj.bias"), read(s, l, "self_attn.k_proj.bias"),
                    read(s, l, "self_attn.v_proj.bias")));
        }
        return new Layer(
                bf16(device, read(s, l, "input_layernorm.weight")),
                bf16(device, concat(read(s, l, "self_attn.q_proj.weight"), read(s, l, "self_attn.k_proj.weight"),
                        read(s, l, "self_attn.v_proj.weight"))),
                qkvBias,
                c.qkNorm() ? bf16(device, read(s, l, "self_attn.q_norm.weight")) : null,
                c.qkNorm() ? bf16(device, read(s, l, "self_attn.k_norm.weight")) : null,
                bf16(device, read(s, l, "self_attn.o_proj.weight")),
                TensorNames.hasOutputBias(c) ? f32(device, read(s, l, "self_attn.o_proj.bias")) : null,
                bf16(device, read(s, l, "post_attention_layernorm.weight")),
                bf16(device, concat(read(s, l, "mlp.gate_proj.weight"), read(s, l, "mlp.up_proj.weight"))),
                bf16(device, read(s, l, "mlp.down_proj.weight")));
    }

    private static float[] read(WeightSource s, int layer, String suffix) {
        return s.readFloats(TensorNames.layer(layer, suffix));
    }

    private static float[] concat(float[]... parts) {
        int total = 0;
        for (float[] p : parts) total += p.length;
        float[] out = new float[total];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private static DeviceMemory bf16(CudaDevice device, float[] values) {
        DeviceMemory memory = device.allocate(2L * values.length);
        memory.copyFrom(Bf16.fromFloats(values));
        return memory;
    }

    private static DeviceMemory f32(CudaDevice device, float[] values) {
        DeviceMemory memory = device.allocate(4L * values.length);
        memory.copyFrom(values);
        return memory;
    }

    @Override
    public void close() {
        for (Layer layer : layers) layer.close();
        if (lmHead != embedding) lmHead.close();
        embedding.close();
        finalNorm.close();
    }
}
