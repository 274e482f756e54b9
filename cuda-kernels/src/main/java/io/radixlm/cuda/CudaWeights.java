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
     * @param qkv       (qDim + 2 kvDim, hidden) bf16: q_proj, k_proj, v_proj rows stacked, q and k rows in
     *                  {@link RopePairOrder}
     * @param qkvBias   (qDim + 2 kvDim) f32 (q and k in pair order), or null
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

    /**
     * Weights of config's shapes filled on the GPU (uniform ±0.02 matrices, norms 1 ± 0.05, biases ±0.02):
     * benchmarks of real shapes (an 8B model is 16 GB) need neither weight files nor host memory.
     */
    static CudaWeights random(CudaDevice device, ModelConfig config, long seed) {
        RandomFillKernel fill = new RandomFillKernel(device);
        long[] nextSeed = {seed};
        int hidden = config.hiddenSize();
        int qkvRows = config.qDim() + 2 * config.kvDim();
        java.util.function.LongFunction<DeviceMemory> matrix = count -> randomBf16(device, fill, count, nextSeed[0]++, 0f, 0.02f);
        java.util.function.LongFunction<DeviceMemory> norm = count -> randomBf16(device, fill, count, nextSeed[0]++, 1f, 0.05f);
        DeviceMemory embedding = matrix.apply((long) config.vocabSize() * hidden);
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) {
            DeviceMemory qkvBias = null;
            if (config.attentionBias()) {
                qkvBias = device.allocate(4L * qkvRows);
                fill.f32(qkvBias, qkvRows, nextSeed[0]++, 0f, 0.02f);
            }
            layers.add(new Layer(norm.apply(hidden), matrix.apply((long) qkvRows * hidden), qkvBias,
                    config.qkNorm() ? norm.apply(config.headDim()) : null,
                    config.qkNorm() ? norm.apply(config.headDim()) : null,
                    matrix.apply((long) hidden * config.qDim()), null, norm.apply(hidden),
                    matrix.apply(2L * config.intermediateSize() * hidden),
                    matrix.apply((long) hidden * config.intermediateSize())));
        }
        DeviceMemory finalNorm = norm.apply(hidden);
        DeviceMemory lmHead = config.tieWordEmbeddings() ? embedding : matrix.apply((long) config.vocabSize() * hidden);
        device.synchronize();
        return new CudaWeights(embedding, List.copyOf(layers), finalNorm, lmHead);
    }

    private static DeviceMemory randomBf16(CudaDevice device, RandomFillKernel fill, long count, long seed,
                                           float center, float scale) {
        DeviceMemory memory = device.allocate(2L * count);
        fill.bf16(memory, count, seed, center, scale);
        return memory;
    }

    private static Layer uploadLayer(CudaDevice device, ModelConfig c, WeightSource s, int l) {
        DeviceMemory qkvBias = null;
        if (c.attentionBias()) {
            qkvBias = f32(device, concat(
                    RopePairOrder.rows(read(s, l, "self_attn.q_proj.bias"), c.numHeads(), c.headDim(), 1),
                    RopePairOrder.rows(read(s, l, "self_attn.k_proj.bias"), c.numKvHeads(), c.headDim(), 1),
                    read(s, l, "self_attn.v_proj.bias")));
        }
        return new Layer(
                bf16(device, read(s, l, "input_layernorm.weight")),
                bf16(device, concat(
                        RopePairOrder.rows(read(s, l, "self_attn.q_proj.weight"), c.numHeads(), c.headDim(), c.hiddenSize()),
                        RopePairOrder.rows(read(s, l, "self_attn.k_proj.weight"), c.numKvHeads(), c.headDim(), c.hiddenSize()),
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

    /** The parts one after another. */
    static float[] concat(float[]... parts) {
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
