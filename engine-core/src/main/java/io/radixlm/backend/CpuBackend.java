package io.radixlm.backend;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.WeightSource;

/**
 * The float32 reference forward pass on the CPU. Reads a step top to bottom: embedding, then per
 * layer attention (norm, q/k/v, q/k norm, RoPE, KV write, paged attention, o_proj, residual) and MLP
 * (norm, gate/up, SwiGLU, down_proj, residual), then the final norm and LM head for the logit rows
 * only. Each step is one {@link CpuKernels} method, the same split the CUDA backend uses.
 */
public final class CpuBackend implements Backend {

    /** Share of the free heap the KV cache may take; the rest is left for activations and the engine. */
    private static final double KV_HEAP_SHARE = 0.5;

    private final ModelConfig config;
    private final CpuWeights weights;
    private final float[] invFreq; // (headDim / 2)
    private final float eps;
    private float[][] kCache; // (layer, numPages * pageSize * kvDim)
    private float[][] vCache; // (layer, numPages * pageSize * kvDim)
    private int pageSize;

    /** Reads every weight to float32 once (checking names and shapes first); the source may be closed afterwards. */
    public CpuBackend(ModelConfig config, WeightSource weightSource) {
        this.config = config;
        this.weights = CpuWeights.load(config, weightSource);
        double[] inv = config.rope().inverseFrequencies(config.headDim());
        this.invFreq = new float[inv.length];
        for (int i = 0; i < inv.length; i++) invFreq[i] = (float) inv[i]; // HF keeps inv_freq in float32
        this.eps = (float) config.rmsNormEps();
    }

    @Override
    public String name() { return "cpu"; }

    @Override
    public ModelConfig config() { return config; }

    @Override
    public void allocateKvCache(int numPages, int pageSize) {
        if (kCache != null) throw new IllegalStateException("KV cache already allocated");
        if (numPages <= 0 || pageSize <= 0) throw new IllegalArgumentException("numPages and pageSize must be positive");
        long floatsPerLayer = (long) numPages * pageSize * config.kvDim();
        if (floatsPerLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(numPages + " pages exceed one Java array per layer; at most "
                    + maxPagesPerArray(pageSize));
        }
        this.pageSize = pageSize;
        this.kCache = new float[config.numLayers()][(int) floatsPerLayer];
        this.vCache = new float[config.numLayers()][(int) floatsPerLayer];
    }

    @Override
    public int maxKvPages(int pageSize) {
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        long bytesPerPage = config.kvBytesPerToken(Float.BYTES) * pageSize;
        long pages = (long) (free * KV_HEAP_SHARE) / bytesPerPage;
        return (int) Math.max(0, Math.min(pages, maxPagesPerArray(pageSize)));
    }

    private long maxPagesPerArray(int pageSize) {
        return (Integer.MAX_VALUE - 8L) / ((long) pageSize * config.kvDim());
    }

    @Override
    public float[] forward(ForwardBatch batch) {
        return forward(batch, null);
    }

    /**
     * As {@link #forward(ForwardBatch)}, also handing the intermediate tensors to trace (may be null).
     *
     * @return (logitRows.length, vocab)
     */
    public float[] forward(ForwardBatch batch, ForwardTrace trace) {
        if (kCache == null) throw new IllegalStateException("allocateKvCache must be called before forward");
        int numTokens = batch.numTokens();
        int hidden = config.hiddenSize();
        float[] x = new float[numTokens * hidden]; // (numTokens, hidden) the residual stream
        CpuKernels.embedding(x, weights.embedding(), batch.tokenIds(), hidden);
        emit(trace, "embedding", x, numTokens, hidden);
        for (int l = 0; l < config.numLayers(); l++) {
            CpuWeights.Layer layer = weights.layers().get(l);
            float[] attnOut = attentionBlock(l, layer, x, batch);
            emit(trace, "layer." + l + ".attention", attnOut, numTokens, hidden);
            CpuKernels.residualAdd(x, attnOut, x.length);
            float[] mlpOut = mlpBlock(layer, x, numTokens);
            emit(trace, "layer." + l + ".mlp", mlpOut, numTokens, hidden);
            CpuKernels.residualAdd(x, mlpOut, x.length);
        }
        int numRows = batch.logitRows().length;
        float[] rows = CpuKernels.gatherRows(x, batch.logitRows(), hidden); // (numRows, hidden)
        CpuKernels.rmsNorm(rows, rows, weights.finalNorm(), numRows, hidden, eps);
        emit(trace, "final_norm", rows, numRows, hidden);
        float[] logits = weights.lmHead().apply(rows, numRows); // (numRows, vocab)
        emit(trace, "logits", logits, numRows, config.vocabSize());
        return logits;
    }

    /** @return (numTokens, hidden) the o_proj output, to be added to the residual stream */
    private float[] attentionBlock(int l, CpuWeights.Layer layer, float[] x, ForwardBatch batch) {
        int numTokens = batch.numTokens();
        int headDim = config.headDim();
        float[] normed = new float[x.length]; // (numTokens, hidden)
        CpuKernels.rmsNorm(normed, x, layer.inputNorm(), numTokens, config.hiddenSize(), eps);
        float[] q = layer.q().apply(normed, numTokens); // (numTokens, numHeads * headDim)
        float[] k = layer.k().apply(normed, numTokens); // (numTokens, numKvHeads * headDim)
        float[] v = layer.v().apply(normed, numTokens); // (numTokens, numKvHeads * headDim)
        if (layer.qNorm() != null) {
            CpuKernels.headRmsNorm(q, layer.qNorm(), numTokens, config.numHeads(), headDim, eps);
            CpuKernels.headRmsNorm(k, layer.kNorm(), numTokens, config.numKvHeads(), headDim, eps);
        }
        CpuKernels.rope(q, batch.positions(), invFreq, config.numHeads(), headDim);
        CpuKernels.rope(k, batch.positions(), invFreq, config.numKvHeads(), headDim);
        // All new tokens are written before any attends, so a prefill chunk sees itself causally.
        CpuKernels.writeKv(kCache[l], vCache[l], k, v, batch.slotMapping(), config.kvDim());
        float[] attn = new float[q.length]; // (numTokens, numHeads * headDim)
        CpuKernels.attention(attn, q, kCache[l], vCache[l], batch, config.numHeads(), config.numKvHeads(),
                headDim, pageSize);
        return layer.o().apply(attn, numTokens);
    }

    /** @return (numTokens, hidden) the down_proj output, to be added to the residual stream */
    private float[] mlpBlock(CpuWeights.Layer layer, float[] x, int numTokens) {
        float[] normed = new float[x.length]; // (numTokens, hidden)
        CpuKernels.rmsNorm(normed, x, layer.postAttentionNorm(), numTokens, config.hiddenSize(), eps);
        float[] gate = layer.gate().apply(normed, numTokens); // (numTokens, intermediate)
        float[] up = layer.up().apply(normed, numTokens); // (numTokens, intermediate)
        CpuKernels.swiglu(gate, gate, up, gate.length);
        return layer.down().apply(gate, numTokens);
    }

    /** Hands a copy to the trace: the forward keeps writing to its own buffers (the residual stream). */
    private static void emit(ForwardTrace trace, String name, float[] values, int numRows, int numCols) {
        if (trace != null) trace.tensor(name, values.clone(), numRows, numCols);
    }

    @Override
    public void close() {
        kCache = null;
        vCache = null;
    }
}
