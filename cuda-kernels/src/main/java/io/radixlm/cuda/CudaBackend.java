package io.radixlm.cuda;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardTrace;
import io.radixlm.backend.PendingIds;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.WeightSource;
import io.radixlm.sampling.SamplingParams;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The forward pass on an NVIDIA GPU: bf16 weights and KV pages, float32 accumulation. The same steps
 * as the CPU reference ({@code CpuBackend}), one kernel each: embedding; per layer fused residual+RMSNorm,
 * the q/k/v linear, RoPE + q/k norm + K/V page write, paged attention + reduce, the o linear, fused
 * residual+RMSNorm, the gate/up linear, SwiGLU, the down linear; then the final norm of the logit rows only
 * and the LM head linear. Each linear is a {@link Linear}: the GEMV kernel for a single row (decode at
 * batch 1), a cuBLAS GEMM otherwise (with {@link #CUT_PREFILL_TRAFFIC}, o/down add straight into the
 * residual). A step of a single token runs the fused GEMVs instead ({@link FusedGemvKernel}:
 * the norms, RoPE + KV write, SwiGLU and residual adds inside the GEMVs). Everything is enqueued on one stream; only the logits (or,
 * through {@link #forwardSample} and {@link #forwardGreedy}, the sampled ids) come back.
 */
public final class CudaBackend implements Backend {
    /**
     * The one switch of the tiled prefill attention kernel: false sends every token (prefill and decode)
     * to the paged kernel + reduce, as before that kernel existed. Also off with -Dradixlm.prefillKernel=false.
     */
    static final boolean USE_PREFILL_KERNEL = !"false".equals(System.getProperty("radixlm.prefillKernel"));
    /**
     * The split over keys of the prefill kernel for few query tiles over many keys (a short chunk after a long
     * cached prefix); -Dradixlm.prefillSplit=false keeps one CTA per (tile, KV head) whatever the keys.
     */
    static final boolean USE_PREFILL_SPLIT = !"false".equals(System.getProperty("radixlm.prefillSplit"));
    /**
     * The prefill's elementwise traffic cut, for every step whose products run on cuBLAS: o_proj/down_proj
     * accumulate straight into the residual (beta = 1; bit for bit the old sum), so the next norm only reads it.
     * Off by default (-Dradixlm.prefillTraffic=true turns it on): measured on the H200 it gained 0.4% on the 8B 8k
     * prefill but lost 28% on Qwen3-0.6B's 512-token prefill (cuBLAS picks slower kernels for beta = 1 there).
     */
    static final boolean CUT_PREFILL_TRAFFIC = "true".equals(System.getProperty("radixlm.prefillTraffic"));
    /**
     * With the cut on, -Dradixlm.bf16GateUp=true also has the gate/up GEMM write bf16 (SwiGLU reads half the bytes),
     * as transformers does in bf16. Off by default: that rounding moved the golden checks against transformers'
     * float32 logits past their bounds (llama3_gqa 300 tokens: a greedy disagreement; batch-3 decode 1.04e-2).
     */
    static final boolean BF16_GATE_UP = Boolean.getBoolean("radixlm.bf16GateUp");
    /**
     * The fused decode path of a 1-token step (FusedGemvKernel: norms, RoPE + KV write, SwiGLU and residual adds
     * folded into the GEMVs; six kernels a layer instead of ten). -Dradixlm.fusedDecode=false runs such steps
     * through the separate kernels, as every other step does.
     */
    static final boolean USE_FUSED_DECODE = !"false".equals(System.getProperty("radixlm.fusedDecode"));
    /**
     * In the fused decode of models with q/k norms (Qwen3), whose RoPE runs in its own kernel after the qkv GEMV, that
     * kernel reads the step's angles from rope_angles rather than computing a double sincos in every CTA after its
     * wait. -Dradixlm.ropeAnglesRead=false: off.
     */
    static final boolean ROPE_ANGLES_READ = !"false".equals(System.getProperty("radixlm.ropeAnglesRead"));
    /** Decode batches of up to this many sequences replay a captured CUDA graph; larger ones launch eagerly. */
    public static final int MAX_GRAPH_BATCH = DecodeGraphs.MAX_BUCKET;
    /** Kept free for activations, cuBLAS and the attention workspace when sizing the KV pool. */
    private static final long ACTIVATION_RESERVE_BYTES = 2L << 30;
    /**
     * Sampling on the GPU (sampling.cu). The off switch, should the kernel misbehave on some device: set
     * this to false, or start the JVM with -Dradixlm.cuda.cpuSampling=true; forwardSample then copies the
     * logits back and samples on the CPU (the same tokens, only slower).
     */
    static final boolean GPU_SAMPLING = !Boolean.getBoolean("radixlm.cuda.cpuSampling");

    private final ModelConfig config;
    private final CudaDevice device;
    private final Cublas cublas;
    private final Linear linear; // GEMV kernel for decode-sized products, cuBLAS otherwise
    private final CudaWeights weights;
    private final double gpuMemoryFraction;
    private final float eps;
    private final DeviceMemory invFreq; // (headDim / 2) f64
    private final EmbeddingKernel embedding;
    private final RmsNormKernel rmsNorm;
    private final RopeKvWriteKernel rope;
    private final PagedAttentionKernel attention;
    private final AttentionReduceKernel attentionReduce;
    private final PrefillAttentionKernel prefillAttention;
    private final SwigluKernel swiglu;
    private final FusedGemvKernel fusedGemv;
    private final BiasAddKernel biasAdd;
    private final GatherRowsKernel gatherRows;
    private final ArgmaxKernel argmax;
    private final SamplingKernel sampling;
    private final List<DeviceMemory> kCache = new ArrayList<>(); // per layer (numSlots, numKvHeads, headDim) bf16
    private final List<DeviceMemory> vCache = new ArrayList<>();
    private int pageSize;
    private int numPages;
    private StepBuffers buffers;
    private final DecodeGraphs graphs = new DecodeGraphs();
    private final IdReadback readback;
    private long steps; // steps enqueued so far: a step's sampled ids stay in buffers.sampled until the next
    private boolean graphsEnabled = true;
    private boolean prefillKernelEnabled = USE_PREFILL_KERNEL;
    private boolean fusedDecodeEnabled = USE_FUSED_DECODE;
    private OpTimeline timeline; // non-null only while profile() captures a step
    private boolean prefillSplitEnabled = USE_PREFILL_SPLIT;
    private int prefillMinSplitKeys = PrefillAttentionKernel.MIN_SPLIT_KEYS;
    private boolean prefillTrafficCut = CUT_PREFILL_TRAFFIC;

    /**
     * Opens the GPU, checks the model fits the kernels, and uploads the weights as bf16.
     *
     * @param gpuMemoryFraction share of the GPU's total memory radixlm may use (weights + KV + activations)
     */
    public CudaBackend(ModelConfig config, WeightSource weightSource, double gpuMemoryFraction) {
        this(config, gpuMemoryFraction, device -> CudaWeights.upload(device, config, weightSource));
    }

    /**
     * A backend of config's shapes with random bf16 weights generated on the GPU (no weight file, no
     * host memory): what `radixlm bench` measures real model shapes with.
     */
    public static CudaBackend withRandomWeights(ModelConfig config, long seed, double gpuMemoryFraction) {
        return new CudaBackend(config, gpuMemoryFraction, device -> CudaWeights.random(device, config, seed));
    }

    private CudaBackend(ModelConfig config, double gpuMemoryFraction,
                        java.util.function.Function<CudaDevice, CudaWeights> weightsOnDevice) {
        if (!(gpuMemoryFraction > 0 && gpuMemoryFraction <= 1)) {
            throw new IllegalArgumentException("gpu memory fraction must be in (0, 1], got " + gpuMemoryFraction);
        }
        if (!PagedAttentionKernel.SUPPORTED_HEAD_DIMS.contains(config.headDim()) || config.groupSize() > 8) {
            throw new CudaUnavailableException("the CUDA kernels support head_dim " + PagedAttentionKernel.SUPPORTED_HEAD_DIMS
                    + " and GQA groups up to 8; this model has head_dim " + config.headDim() + ", group " + config.groupSize());
        }
        this.config = config;
        this.gpuMemoryFraction = gpuMemoryFraction;
        this.eps = (float) config.rmsNormEps();
        this.device = CudaDevice.open();
        try {
            this.cublas = new Cublas(device);
        } catch (RuntimeException e) {
            device.close(); // e.g. no cuBLAS: "auto" then falls back to the CPU without a stray context
            throw e;
        }
        this.linear = new Linear(device, cublas);
        this.weights = weightsOnDevice.apply(device); // an upload validates every tensor before allocating
        double[] inv = config.rope().inverseFrequencies(config.headDim());
        float[] invAsFloat = new float[inv.length];
        for (int i = 0; i < inv.length; i++) invAsFloat[i] = (float) inv[i]; // HF keeps inv_freq in float32
        double[] invRounded = new double[inv.length];
        for (int i = 0; i < inv.length; i++) invRounded[i] = invAsFloat[i];
        this.invFreq = device.allocate(8L * inv.length);
        invFreq.copyFrom(invRounded);
        this.embedding = new EmbeddingKernel(device);
        this.rmsNorm = new RmsNormKernel(device);
        this.rope = new RopeKvWriteKernel(device);
        this.attention = new PagedAttentionKernel(device);
        this.attentionReduce = new AttentionReduceKernel(device);
        this.prefillAttention = new PrefillAttentionKernel(device);
        this.swiglu = new SwigluKernel(device);
        this.fusedGemv = new FusedGemvKernel(device);
        this.biasAdd = new BiasAddKernel(device);
        this.gatherRows = new GatherRowsKernel(device);
        this.argmax = new ArgmaxKernel(device);
        this.sampling = new SamplingKernel(device);
        this.readback = new IdReadback(device);
    }

    @Override
    public String name() { return "cuda"; }

    @Override
    public ModelConfig config() { return config; }

    /** The GPU's name, e.g. "NVIDIA H200". */
    public String deviceName() { return device.name(); }

    @Override
    public void allocateKvCache(int numPages, int pageSize) {
        if (!kCache.isEmpty()) throw new IllegalStateException("KV cache already allocated");
        if (numPages <= 0 || pageSize <= 0) throw new IllegalArgumentException("numPages and pageSize must be positive");
        this.numPages = numPages;
        this.pageSize = pageSize;
        // one page more than asked for: the scratch page that padding rows of a replayed graph write to
        long bytes = 2L * (numPages + 1) * pageSize * config.kvDim();
        for (int l = 0; l < config.numLayers(); l++) {
            kCache.add(device.allocate(bytes));
            vCache.add(device.allocate(bytes));
        }
    }

    /**
     * Fills every KV page with random bf16 values (uniform ±1): benchmarks decode over contexts they never
     * prefilled, and timing over uninitialised memory (often zeros) could flatter the kernels.
     */
    public void fillKvCacheRandom(long seed) {
        RandomFillKernel fill = new RandomFillKernel(device);
        long elements = (long) (numPages + 1) * pageSize * config.kvDim();
        for (int l = 0; l < kCache.size(); l++) {
            fill.bf16(kCache.get(l), elements, seed + 2L * l, 0f, 1f);
            fill.bf16(vCache.get(l), elements, seed + 2L * l + 1, 0f, 1f);
        }
        device.synchronize();
    }

    @Override
    public int maxKvPages(int pageSize) {
        long[] info = device.memoryInfo(); // free, total
        long used = info[1] - info[0];
        long budget = (long) (info[1] * gpuMemoryFraction) - used - ACTIVATION_RESERVE_BYTES;
        long bytesPerPage = config.kvBytesPerToken(2) * pageSize;
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, budget / bytesPerPage));
    }

    @Override
    public float[] forward(ForwardBatch batch) { return forward(batch, null); }

    /** As {@link #forward(ForwardBatch)}, handing the intermediate tensors to trace (may be null; then no extra copies). */
    public float[] forward(ForwardBatch batch, ForwardTrace trace) {
        run(batch, trace);
        return buffers.logits.toFloats(batch.logitRows().length * config.vocabSize());
    }

    /** Greedy decoding without copying logits back: the argmax id of each logit row (lowest on ties). */
    public int[] forwardGreedy(ForwardBatch batch) {
        run(batch, null);
        return sampledIds(batch.logitRows().length);
    }

    /**
     * Samples on the GPU: runs the step, then sample_rows over the logits still on the device; only the
     * ids come back. The tokens are those of {@link io.radixlm.sampling.Sampler} on the same logits. When
     * every row is greedy the step's own argmax is the answer and sample_rows is not launched.
     */
    @Override
    public int[] forwardSample(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps) {
        return forwardSampleAsync(batch, rowParams, rowSteps, null).await();
    }

    /** The ids in buffers.sampled (argmax or sample_rows), once the stream gets there; -1 marks a row that is not finite. */
    private int[] sampledIds(int numRows) {
        return IdReadback.checkFinite(buffers.sampled.toInts(numRows));
    }

    /**
     * Steps are enqueued with their sampling (the step's argmax, or sample_rows with the rows' parameters uploaded in
     * the step's one copy) and the ids' copy back, and return at once; a fed token's id is read on the GPU from the
     * sampled ids of the step before (by the embedding), so the step starts as soon as that one ends. This holds
     * when previous is this backend's latest step and the step buffers need not grow; otherwise the fed ids are read
     * on the host first.
     */
    @Override
    public PendingIds forwardSampleAsync(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps,
                                         PendingIds previous) {
        int numRows = batch.logitRows().length;
        if (rowParams.length != numRows || rowSteps.length != numRows) {
            throw new IllegalArgumentException("one SamplingParams and one step per logit row: " + numRows + " rows, "
                    + rowParams.length + " params, " + rowSteps.length + " steps");
        }
        if (!GPU_SAMPLING || numRows == 0) {
            return PendingIds.done(Backend.super.forwardSample(batch.withFedIds(previous), rowParams, rowSteps));
        }
        boolean allGreedy = true;
        for (SamplingParams p : rowParams) allGreedy &= p.isGreedy();
        int[] fedRows = batch.fedRows();
        boolean feedOnDevice = fedRows != null && previous instanceof IdReadback.Pending p && p.cameFrom(readback)
                && p.step() == steps && buffersFit(batch, graphsEnabled ? DecodeGraphs.bucketFor(batch) : 0);
        if (fedRows != null && feedOnDevice) {
            for (int row : fedRows) feedOnDevice &= row < ((IdReadback.Pending) previous).numRows();
        }
        if (!feedOnDevice) {
            batch = batch.withFedIds(previous);
            fedRows = null;
        }
        run(batch, null, fedRows, allGreedy ? new int[0] : SamplingKernel.packInts(rowParams, rowSteps));
        if (!allGreedy) sampling.launch(buffers.logits, buffers.sampleParams, buffers.sampled, numRows, config.vocabSize());
        return readback.enqueue(buffers.sampled, numRows, steps);
    }

    /** Steps are queued on the GPU's stream: forwardSampleAsync returns before they run. */
    @Override
    public boolean runsStepsAhead() { return true; }

    /** The logits of the latest step, still on the GPU, copied back: (numRows, vocab). For tests of forwardSample. */
    float[] latestLogits(int numRows) {
        return buffers.logits.toFloats(numRows * config.vocabSize());
    }

    /**
     * Replays a captured CUDA graph for decode steps (a graph per batch-size bucket; a launch from
     * Java costs about 6.8 µs of host time, a graph node about 0.5 µs); on by default. Off: every step
     * launches its kernels one by one, as prefill steps always do.
     */
    public void setGraphsEnabled(boolean enabled) { this.graphsEnabled = enabled; }

    /** Decode graphs captured since the step buffers were last replaced (one per bucket, context class and table width). */
    int decodeGraphsCaptured() { return graphs.size(); }

    /** The GPU this backend runs on (tests ask how it launches kernels). */
    CudaDevice device() { return device; }

    /**
     * Rows of sequences with several new tokens go to the tiled prefill attention kernel (on by default,
     * unless {@link #USE_PREFILL_KERNEL} is false); off: every row goes to the paged (decode) kernel + reduce.
     */
    public void setPrefillKernelEnabled(boolean enabled) { this.prefillKernelEnabled = enabled; }

    /**
     * Steps of one token (decode at batch 1) run the fused GEMVs (on by default, unless {@link #USE_FUSED_DECODE}
     * is false); off: the separate norm, RoPE, SwiGLU kernels as for every other step. Drops captured graphs.
     */
    public void setFusedDecodeEnabled(boolean enabled) {
        device.synchronize();
        graphs.close();
        this.fusedDecodeEnabled = enabled;
    }

    /** Splits the prefill kernel's keys over several CTAs when its tiles are few (on by default, unless {@link #USE_PREFILL_SPLIT} is false). */
    public void setPrefillSplitEnabled(boolean enabled) { this.prefillSplitEnabled = enabled; }

    /**
     * Cuts the elementwise traffic of cuBLAS steps (off by default, unless {@link #CUT_PREFILL_TRAFFIC} is true);
     * decode graphs captured before hold the other products, so they go.
     */
    void setPrefillTrafficCut(boolean enabled) {
        this.prefillTrafficCut = enabled;
        device.synchronize();
        graphs.close();
    }

    /** For tests on models of short contexts: the fewest keys per split (normally {@link PrefillAttentionKernel#MIN_SPLIT_KEYS}). */
    void setPrefillMinSplitKeys(int keys) { this.prefillMinSplitKeys = keys; }

    /** Enqueues the step (graph replay or eager launches) including the argmax of every logit row. */
    private void run(ForwardBatch batch, ForwardTrace trace) {
        if (batch.fedRows() != null) throw new IllegalArgumentException("fed token ids need forwardSampleAsync");
        run(batch, trace, null, new int[0]);
    }

    /**
     * As {@link #run(ForwardBatch, ForwardTrace)}; fedRows (null: none) names for each token the row of the latest
     * step's sampled ids that is its id: the embedding reads it there (buffers.sampled, which this step's argmax
     * overwrites only later). sampleParams: the rows' packed sampling parameters (SamplingKernel.packInts), uploaded
     * with the step's inputs into buffers.sampleParams; empty when the step only takes its argmax.
     */
    private void run(ForwardBatch batch, ForwardTrace trace, int[] fedRows, int[] sampleParams) {
        int bucket = graphsEnabled && trace == null ? DecodeGraphs.bucketFor(batch) : 0;
        DeviceMemory fedFrom = fedRows == null ? null : buffers.sampled;
        Runnable step = prepare(batch, bucket, trace, sampleParams);
        if (fedRows != null && fedFrom != buffers.sampled) throw new IllegalStateException("the step buffers grew under fed ids");
        steps++;
        if (bucket > 0) {
            graphs.replay(bucket, DecodeGraphs.shortContext(batch), buffers.tableStride, () -> CudaGraph.capture(device, step));
        } else {
            step.run();
        }
    }

    /** Whether the step buffers hold batch (padded to bucket when bucket > 0) without being replaced. */
    private boolean buffersFit(ForwardBatch batch, int bucket) {
        int pagesPerSeq = pagesPerSeq(batch);
        return buffers != null && (bucket > 0 ? buffers.fits(bucket, bucket, bucket, pagesPerSeq)
                : buffers.fits(batch.numTokens(), batch.logitRows().length, batch.numSeqs(), pagesPerSeq));
    }

    private static int pagesPerSeq(ForwardBatch batch) {
        int pagesPerSeq = 1;
        for (int[] table : batch.blockTables()) pagesPerSeq = Math.max(pagesPerSeq, table.length);
        return pagesPerSeq;
    }

    /**
     * Sizes the step buffers and uploads the step's metadata (a decode batch padded to its graph bucket
     * when bucket > 0); returns what enqueues the step's kernels over that metadata.
     */
    private Runnable prepare(ForwardBatch batch, int bucket, ForwardTrace trace, int[] sampleParams) {
        if (kCache.isEmpty()) throw new IllegalStateException("allocateKvCache must be called before forward");
        int pagesPerSeq = pagesPerSeq(batch);
        if (bucket > 0) {
            ensureBuffers(bucket, bucket, bucket, pagesPerSeq);
            StepMetadata.paddedDecode(batch, bucket, numPages, pageSize,
                    StepMetadata.tableStride(pagesPerSeq, buffers.maxPagesPerSeq)).upload(buffers, sampleParams);
            // the graph replays at later contexts of the same class: the attention is picked for the class's bound
            int maxKeys = DecodeGraphs.shortContext(batch) ? PagedAttentionKernel.CLUSTER_MAX_KEYS : Integer.MAX_VALUE;
            return () -> enqueueStep(bucket, bucket, bucket, AttentionSplit.decodeOnly(bucket, maxKeys), null);
        }
        ensureBuffers(batch.numTokens(), batch.logitRows().length, batch.numSeqs(), pagesPerSeq);
        StepMetadata metadata = StepMetadata.of(batch, StepMetadata.tableStride(pagesPerSeq, buffers.maxPagesPerSeq),
                config.groupSize(), prefillKernelEnabled);
        metadata.upload(buffers, sampleParams);
        PrefillAttentionKernel.Split keySplit = prefillSplitEnabled
                ? prefillAttention.split(metadata.prefillTiles(), batch.positions(), config.numKvHeads(),
                        config.headDim(), device.numMultiprocessors(), buffers.prefillSplits.maxStates(),
                        prefillMinSplitKeys)
                : PrefillAttentionKernel.Split.NONE;
        var split = new AttentionSplit(metadata.numPrefillTiles(), metadata.numDecodeTokens(), keySplit,
                DecodeGraphs.maxKeys(batch));
        return () -> enqueueStep(batch.numTokens(), batch.numSeqs(), batch.logitRows().length, split, trace);
    }

    /**
     * GPU milliseconds per op (summed over layers) of one step over batch, the median of replays: the
     * step runs once as the engine would run it (buffers, cuBLAS heuristics, its decode graph), then is
     * captured with a CUDA event after every op and replayed (a decode batch padded to its bucket, as
     * in a real step). The map's order is the step's; the step's time is the sum of its ops.
     */
    public Map<String, OpTimeline.OpTime> profile(ForwardBatch batch, int replays) {
        if (replays < 1) throw new IllegalArgumentException("replays must be positive");
        run(batch, null);
        int bucket = graphsEnabled ? DecodeGraphs.bucketFor(batch) : 0;
        Runnable step = prepare(batch, bucket, null, new int[0]);
        device.synchronize();
        List<Map<String, OpTimeline.OpTime>> runs = new ArrayList<>();
        try (OpTimeline recorded = new OpTimeline(device)) {
            CudaGraph graph;
            timeline = recorded;
            try {
                graph = CudaGraph.capture(device, () -> {
                    recorded.start();
                    step.run();
                });
            } finally {
                timeline = null;
            }
            try (graph) {
                graph.replay(); // warm-up
                for (int i = 0; i < replays; i++) {
                    graph.replay();
                    runs.add(recorded.times());
                }
            }
        }
        return OpTimeline.median(runs);
    }

    /** Ends the current op on the timeline being recorded, if any (only {@link #profile} records one). */
    private void mark(String op) {
        if (timeline != null) timeline.mark(op);
    }

    /**
     * Which attention kernels a step runs: prefill_attention over numPrefillTiles tiles (the rows of
     * sequences with several new tokens, their keys split as prefillSplit says), the paged kernel + reduce for
     * the numDecodeTokens others; maxKeys: the most keys a token attends (at most, for a graph's later replays).
     */
    private record AttentionSplit(int numPrefillTiles, int numDecodeTokens, PrefillAttentionKernel.Split prefillSplit,
                                  int maxKeys) {
        static AttentionSplit decodeOnly(int numTokens, int maxKeys) {
            return new AttentionSplit(0, numTokens, PrefillAttentionKernel.Split.NONE, maxKeys);
        }
    }

    /**
     * How a step's products hand on their results. SEPARATE: gate/up float32, o_proj and down_proj into proj,
     * which the next norm adds to the residual. INTO_RESIDUAL ({@link #CUT_PREFILL_TRAFFIC}): o_proj and down_proj added
     * into the residual by cuBLAS, the next norm only reads it (and gate/up bf16 with {@link #BF16_GATE_UP}).
     */
    private enum Epilogue { SEPARATE, INTO_RESIDUAL }

    /**
     * INTO_RESIDUAL when the cut is on, no trace wants proj, and the step's products run on cuBLAS, not the 1-row GEMV
     * kernel (asked of one product: at rows above {@link Linear#MAX_GEMV_ROWS} none takes it, and one that
     * would have goes to cuBLAS under INTO_RESIDUAL, slower but right).
     */
    private Epilogue epilogueFor(int numTokens, ForwardTrace trace) {
        boolean onCublas = !linear.usesGemv(buffers.normed, weights.layers().get(0).gateUp(), numTokens, config.hiddenSize());
        return prefillTrafficCut && trace == null && onCublas ? Epilogue.INTO_RESIDUAL : Epilogue.SEPARATE;
    }

    /** The kernels of one step over the metadata already in the step buffers. */
    private void enqueueStep(int numTokens, int numSeqs, int numRows, AttentionSplit split, ForwardTrace trace) {
        if (usesFusedDecode(numTokens, numRows, split, trace)) {
            enqueueFusedDecodeStep(numSeqs, split);
            return;
        }
        int hidden = config.hiddenSize();
        StepBuffers b = buffers;
        Epilogue epilogue = epilogueFor(numTokens, trace);
        DeviceMemory delta = epilogue == Epilogue.INTO_RESIDUAL ? null : b.proj; // what each norm adds to the residual
        embedding.launch(weights.embedding(), b.tokenIds, b.sampled, b.residual, numTokens, config.vocabSize(), hidden);
        mark("embedding");
        emit(trace, "embedding", b.residual, numTokens, hidden);
        for (int l = 0; l < config.numLayers(); l++) {
            CudaWeights.Layer layer = weights.layers().get(l);
            // the previous layer's MLP output joins the residual stream inside this norm (INTO_RESIDUAL: it did in down_proj)
            rmsNorm.launch(b.residual, l == 0 ? null : delta, layer.inputNorm(), b.normed, numTokens, hidden, eps);
            mark("attn_norm");
            attentionBlock(l, layer, numTokens, numSeqs, split, epilogue);
            emit(trace, "layer." + l + ".attention", b.proj, numTokens, hidden);
            rmsNorm.launch(b.residual, delta, layer.postNorm(), b.normed, numTokens, hidden, eps);
            mark("mlp_norm");
            mlpBlock(layer, numTokens, epilogue);
            emit(trace, "layer." + l + ".mlp", b.proj, numTokens, hidden);
        }
        rmsNorm.launch(b.residual, delta, weights.finalNorm(), b.normed, numTokens, hidden, eps);
        mark("final_norm");
        gatherRows.launch(b.normed, b.logitRows, b.rowsNormed, numTokens, numRows, hidden);
        mark("gather_rows");
        emitBf16(trace, "final_norm", b.rowsNormed, numRows, hidden);
        linear.apply(b.rowsNormed, weights.lmHead(), b.logits, numRows, hidden, config.vocabSize());
        mark("lm_head");
        emit(trace, "logits", b.logits, numRows, config.vocabSize());
        argmax.launch(b.logits, b.sampled, b.argmaxScratch, numRows, config.vocabSize());
        mark("argmax");
    }

    /**
     * A step of one token and one logit row with no trace (a trace wants the tensors the fused kernels never
     * write) on shapes the fused GEMVs take.
     */
    private boolean usesFusedDecode(int numTokens, int numRows, AttentionSplit split, ForwardTrace trace) {
        StepBuffers b = buffers;
        return fusedDecodeEnabled && trace == null && numTokens == 1 && numRows == 1 && split.numPrefillTiles() == 0
                && linear.usesGemv(b.normed, weights.lmHead(), 1, config.hiddenSize())
                && FusedGemvKernel.supports(config.hiddenSize(), b.residual.address(), b.attnOut.address(), b.act.address())
                && FusedGemvKernel.supports(config.qDim()) && FusedGemvKernel.supports(config.intermediateSize());
    }

    /**
     * One token through the fused GEMVs: the residual stream is updated by the o and down GEMVs themselves and
     * normalised inside the qkv, gate/up and LM head GEMVs. Per layer: qkv (+ norm, RoPE, KV write), attention,
     * its reduce, o (+ residual), gate/up (+ norm, SwiGLU), down (+ residual). Op names as the unfused step's.
     */
    private void enqueueFusedDecodeStep(int numSeqs, AttentionSplit split) {
        int hidden = config.hiddenSize();
        StepBuffers b = buffers;
        embedding.launch(weights.embedding(), b.tokenIds, b.sampled, b.residual, 1, config.vocabSize(), hidden);
        mark("embedding");
        fusedGemv.ropeAngles(b.positions, invFreq, b.ropeAngles, config.headDim());
        mark("rope_angles");
        var shape = ropeShape();
        // with q/k norms, the clustered attention applies them and RoPE itself where it can (no RoPE kernel)
        boolean ropeInAttention = attention.appliesRope(1, decodeLayout(), split.maxKeys());
        for (int l = 0; l < config.numLayers(); l++) {
            CudaWeights.Layer layer = weights.layers().get(l);
            if (layer.qNorm() == null) {
                fusedGemv.normRope(b.residual, layer.inputNorm(), layer.qkv(), layer.qkvBias(),
                        new FusedGemvKernel.RopeTarget(b.ropeAngles, b.slotMapping, b.q, kCache.get(l), vCache.get(l), shape),
                        hidden, eps);
                mark("qkv_proj");
            } else { // the q/k norm spans whole heads: qkv first, then RoPE (its own kernel, or inside the clustered attention)
                fusedGemv.norm(b.residual, layer.inputNorm(), layer.qkv(), b.qkv, hidden, shape.qkvWidth(), eps);
                mark("qkv_proj");
                if (!ropeInAttention) {
                    rope.launch(b.qkv, layer.qkvBias(), b.positions, b.slotMapping, invFreq, layer.qNorm(), layer.kNorm(),
                            b.q, kCache.get(l), vCache.get(l), 1, shape, eps, ROPE_ANGLES_READ ? b.ropeAngles : null);
                    mark("rope_kv_write");
                }
            }
            if (layer.qNorm() != null && ropeInAttention) {
                attention.launchWithRope(new PagedAttentionKernel.RopeInputs(b.qkv, layer.qkvBias(), layer.qNorm(),
                                layer.kNorm(), b.ropeAngles, b.slotMapping, eps), kCache.get(l), vCache.get(l), b.positions,
                        b.tokenSeq, b.blockTables, decodeLayout(), b.attention, b.attnOut, numSeqs == 1, split.maxKeys());
                mark("decode_attention");
            } else {
                decodeAttention(l, 1, numSeqs, split);
            }
            fusedGemv.residual(b.attnOut, layer.o(), layer.oBias(), b.residual, config.qDim(), hidden);
            mark("o_proj");
            fusedGemv.normSwiglu(b.residual, layer.postNorm(), layer.gateUp(), b.act, hidden, config.intermediateSize(), eps);
            mark("gate_up_proj");
            fusedGemv.residual(b.act, layer.down(), null, b.residual, config.intermediateSize(), hidden);
            mark("down_proj");
        }
        fusedGemv.norm(b.residual, weights.finalNorm(), weights.lmHead(), b.logits, hidden, config.vocabSize(), eps);
        mark("lm_head");
        argmax.launch(b.logits, b.sampled, b.argmaxScratch, 1, config.vocabSize());
        mark("argmax");
    }

    private RopeKvWriteKernel.Shape ropeShape() {
        return new RopeKvWriteKernel.Shape(config.numHeads(), config.numKvHeads(), config.headDim(), (numPages + 1) * pageSize);
    }

    /** normed → q/k/v → RoPE + KV write → prefill and/or paged attention → o_proj, into proj or the residual. */
    private void attentionBlock(int l, CudaWeights.Layer layer, int numTokens, int numSeqs, AttentionSplit split,
                                Epilogue epilogue) {
        StepBuffers b = buffers;
        int qkvWidth = config.qDim() + 2 * config.kvDim();
        linear.apply(b.normed, layer.qkv(), b.qkv, numTokens, config.hiddenSize(), qkvWidth);
        mark("qkv_proj");
        rope.launch(b.qkv, layer.qkvBias(), b.positions, b.slotMapping, invFreq, layer.qNorm(), layer.kNorm(),
                b.q, kCache.get(l), vCache.get(l), numTokens, ropeShape(), eps);
        mark("rope_kv_write");
        var layout = decodeAttention(l, numTokens, numSeqs, split);
        prefillAttention.launch(b.q, kCache.get(l), vCache.get(l), b.positions, b.blockTables, b.prefillTiles,
                split.numPrefillTiles(), numTokens, numSeqs, layout, split.prefillSplit(), b.prefillSplits, b.attnOut);
        if (split.numPrefillTiles() > 0) mark("prefill_attention");
        DeviceMemory projected = project(epilogue, b.attnOut, layer.o(), numTokens, config.qDim());
        mark("o_proj");
        if (layer.oBias() != null) {
            biasAdd.launch(projected, layer.oBias(), numTokens, config.hiddenSize());
            mark("o_bias");
        }
    }

    /**
     * The paged (decode) attention of the step's decode tokens and its reduce, from buffers.q into buffers.attnOut;
     * returns the KV layout of the step.
     */
    private PagedAttentionKernel.Layout decodeAttention(int l, int numTokens, int numSeqs, AttentionSplit split) {
        StepBuffers b = buffers;
        var layout = decodeLayout();
        if (split.numDecodeTokens() > 0) {
            // with prefill tiles in the step, their tokens are skipped here (and written by the prefill kernel); a
            // fused V3 kernel, or one in clusters, writes attnOut itself, and the reduce then launches nothing
            DeviceMemory skip = split.numPrefillTiles() > 0 ? b.prefillToken : null;
            // one new token per sequence: its older keys were written by earlier steps, and may load before the wait
            var splits = attention.launch(b.q, kCache.get(l), vCache.get(l), b.positions, b.tokenSeq, b.blockTables,
                    numTokens, numSeqs, layout, b.attention, skip, b.attnOut, numTokens == numSeqs, split.maxKeys());
            mark("decode_attention");
            attentionReduce.launch(b.attention, splits, b.positions, b.attnOut, numTokens, skip);
            if (!splits.outWritten()) mark("attention_reduce");
        }
        return layout;
    }

    /** The KV layout of this step's attention (the block tables at the step's width). */
    private PagedAttentionKernel.Layout decodeLayout() {
        return new PagedAttentionKernel.Layout(config.numHeads(), config.numKvHeads(), config.headDim(), pageSize,
                numPages + 1, buffers.tableStride);
    }

    /** normed → gate/up (float32, or bf16 when INTO_RESIDUAL and {@link #BF16_GATE_UP}) → SwiGLU → down_proj, into proj or the residual. */
    private void mlpBlock(CudaWeights.Layer layer, int numTokens, Epilogue epilogue) {
        StepBuffers b = buffers;
        int intermediate = config.intermediateSize();
        if (epilogue == Epilogue.INTO_RESIDUAL && BF16_GATE_UP) {
            cublas.linearBf16(b.normed, layer.gateUp(), b.gateUp, numTokens, config.hiddenSize(), 2 * intermediate);
            mark("gate_up_proj");
            swiglu.launchBf16(b.gateUp, b.act, numTokens, intermediate);
        } else {
            linear.apply(b.normed, layer.gateUp(), b.gateUp, numTokens, config.hiddenSize(), 2 * intermediate);
            mark("gate_up_proj");
            swiglu.launch(b.gateUp, b.act, numTokens, intermediate);
        }
        mark("swiglu");
        project(epilogue, b.act, layer.down(), numTokens, intermediate);
        mark("down_proj");
    }

    /** o_proj or down_proj (rows, hidden): into proj, or (INTO_RESIDUAL) added into the residual; returns which. */
    private DeviceMemory project(Epilogue epilogue, DeviceMemory x, DeviceMemory w, int numTokens, int inFeatures) {
        StepBuffers b = buffers;
        if (epilogue == Epilogue.INTO_RESIDUAL) {
            cublas.linearAccumulate(x, w, b.residual, numTokens, inFeatures, config.hiddenSize());
            return b.residual;
        }
        linear.apply(x, w, b.proj, numTokens, inFeatures, config.hiddenSize());
        return b.proj;
    }

    /** Makes the step buffers big enough; replacing them moves their addresses, so captured graphs go too. */
    private void ensureBuffers(int numTokens, int numRows, int numSeqs, int pagesPerSeq) {
        if (buffers != null && buffers.fits(numTokens, numRows, numSeqs, pagesPerSeq)) return;
        int maxContext = Math.min(config.maxPositionEmbeddings(), numPages * pageSize);
        int maxPages = Math.max(pagesPerSeq, (maxContext + pageSize - 1) / pageSize);
        int tokens = Math.max(numTokens, buffers == null ? 0 : buffers.maxTokens);
        int rows = Math.max(numRows, buffers == null ? 0 : buffers.maxRows);
        int seqs = Math.max(numSeqs, buffers == null ? 0 : buffers.maxSeqs);
        device.synchronize();
        graphs.close();
        if (buffers != null) buffers.close();
        buffers = new StepBuffers(device, config, roundUp(tokens), roundUp(rows), roundUp(seqs), maxPages,
                maxPages * pageSize);
    }

    private static int roundUp(int n) { return Math.max(16, Integer.highestOneBit(n - 1) << 1); }

    private void emit(ForwardTrace trace, String name, DeviceMemory values, int numRows, int numCols) {
        if (trace != null) trace.tensor(name, values.toFloats(numRows * numCols), numRows, numCols);
    }

    private void emitBf16(ForwardTrace trace, String name, DeviceMemory values, int numRows, int numCols) {
        if (trace != null) trace.tensor(name, Bf16.toFloats(values.toShorts(numRows * numCols)), numRows, numCols);
    }

    @Override
    public void close() {
        device.synchronize();
        graphs.close();
        readback.close();
        if (buffers != null) buffers.close();
        for (DeviceMemory m : kCache) m.close();
        for (DeviceMemory m : vCache) m.close();
        invFreq.close();
        weights.close();
        cublas.close();
        device.close();
    }
}
