package io.radixlm.cuda;

/**
 * Decode attention over the paged cache: each new token (numTokens) attends keys [0, positions[t]] of its
 * sequence tokenSeq[t], read from kCache/vCache (numSlots, numKvHeads, headDim) bf16 through blockTables
 * (numSeqs, maxPagesPerSeq); q (numTokens, numHeads, headDim) f32. The keys of a token are split along the
 * sequence; each split writes one softmax state into the workspace, and {@link AttentionReduceKernel}
 * merges them (told how by the {@link Splits} that launch returns), unless the V3 kernel merged them itself
 * ({@link Merge#FUSED}).
 */
public final class PagedAttentionKernel {
    private static final int THREADS = 128;
    private static final int MAX_GROUP = 8;
    /** Most splits per token of the streaming kernel (SPLIT_MAX in paged_attention.cu, attention_reduce_split). */
    public static final int MAX_SPLITS = 256;
    /** The instantiations of paged_attention_hd* and paged_attention_split_hd* in paged_attention.cu. */
    public static final java.util.List<Integer> SUPPORTED_HEAD_DIMS = java.util.List.of(32, 48, 64, 96, 128);

    /**
     * Which kernel pair runs. V3 (default): paged_attention_v3_*, the streaming kernel whose warps load their next
     * keys while computing the current ones, in the {@link V3Shape} -Dradixlm.attention.v3 names. STREAMING
     * (-Dradixlm.attention.v2=true): paged_attention_split_*, which loads then computes. Both choose the split count
     * per launch from the batch and each split's keys from the token's context, and share attention_reduce_split.
     * V1 (-Dradixlm.attention.v1=true): the first kernel, a warp per key and the workspace's fixed split size.
     * The older two stay for an A/B on the GPU.
     */
    public enum Variant {
        V1, STREAMING, V3;

        /** V3 unless the JVM was started with -Dradixlm.attention.v1=true or -Dradixlm.attention.v2=true. */
        public static Variant fromSystemProperty() {
            if (Boolean.getBoolean("radixlm.attention.v1")) return V1;
            return Boolean.getBoolean("radixlm.attention.v2") ? STREAMING : V3;
        }

        /** Whether the states are packed (numTokens, numHeads, numSplits) for attention_reduce_split. */
        public boolean packedStates() { return this != V1; }
    }

    /**
     * The compile-time knobs of one V3 instantiation (paged_attention_v3_hd*_g*_w{warps}u{passes}b{minBlocks}[t]):
     * warps per CTA, passes per iteration (each pass: 32 / lanes-per-key keys per warp; group 8 is held to 2), the
     * CTAs per SM its register budget is sized for (__launch_bounds__; halved for group 8), and whether a key's
     * scores are summed by the transposed reduce-scatter (fewer shuffles for groups 2 .. lanes per key).
     */
    public record V3Shape(int warps, int passes, int minBlocks, boolean transposed, int stages, boolean tensorCores) {
        /**
         * The default instantiation: 8 warps per SM, two 4-pass buffers per warp. Measured on the H200 (bench item 3,
         * 8B layer, fraction of copy bandwidth at (1, 32k) / (32, 8k) / (128, 2k)): W4U4B2 0.743 / 0.928 / 0.876,
         * W8U2B2 0.717 / 0.897 / 0.851, W4U2B4 0.632 / 0.882 / 0.865, W4U4B3 0.671 / 0.872 / 0.795, W8U1B2 0.615 /
         * 0.738 / 0.715, W4U2B4T 0.607 / 0.842 / 0.827, W4U4B3T 0.738 / 0.975 / 0.866; the V2 kernel 0.587 / 0.714 / 0.693.
         * Shapes of 3 or more CTAs per SM choose different split counts for different numbers of tokens, which breaks
         * the bit-for-bit equality of a prefill after a prefix hit with a cold one through this kernel; they were dropped.
         * Its ncu profile at (1, 32k): 61% of issue slots busy with 2 warps a scheduler, HBM at 69% of its peak; a
         * ring of 4 or 6 iterations in shared memory (branch ring) kept more bytes in flight and did not help: 0.722 /
         * 0.956 / 0.872 and 0.677 / 0.858 / 0.831. The bound is its ~70 instructions a key.
         */
        public static final V3Shape DEFAULT = new V3Shape(4, 4, 2, false);

        /**
         * The tensor-core kernel (16 keys a warp an iteration through mma.sync, a ring of 3 iterations, 104 KB of
         * shared memory a CTA at head dim 128), -Dradixlm.attention.v3=W4U1B2S3M; head dims other than 64 and 128 run
         * {@link #DEFAULT}. Alone (bench item 3, one call) it streams faster: 8B layer 0.765 / 0.955 / 0.946, 1B layer
         * 0.608 / 0.895 / 0.849, against W4U4B2's 0.747 / 0.928 / 0.875 and 0.591 / 0.858 / 0.788 in another call.
         * In the decode step it is slower at batch 1 and on the nano-vllm workload (BENCHMARKS.md), so it is not the
         * default; it runs the long-context decode batches at head dim 64 ({@code LONG_CONTEXT_TENSOR_CORES}).
         */
        public static final V3Shape TENSOR_CORES = new V3Shape(4, 1, 2, false, 3, true);

        /**
         * stages: 0 for V3's two register buffers (one iteration in flight while one is computed); 2 or more for a
         * ring of that many iterations in shared memory, filled by cp.async (stages - 1 in flight), which only the
         * tensor-core kernel has. tensorCores: the keys' scores and values go through mma.sync, 16 keys a warp an
         * iteration (pagedAttentionMma; head dims 64 and 128, other head dims run {@link #DEFAULT}); it needs a ring,
         * and passes and transposed mean nothing to it.
         */
        public V3Shape {
            if (warps < 1 || passes < 1 || minBlocks < 1) {
                throw new IllegalArgumentException("V3 knobs must be positive: " + warps + ", " + passes + ", " + minBlocks);
            }
            if (tensorCores != stages > 0) throw new IllegalArgumentException("the tensor-core kernel, and only it, has a ring");
            if (stages < 0 || stages == 1) throw new IllegalArgumentException("a ring has 2 stages or more, not " + stages);
        }

        /** A shape with V3's register buffers. */
        public V3Shape(int warps, int passes, int minBlocks, boolean transposed) {
            this(warps, passes, minBlocks, transposed, 0, false);
        }

        /** Whether this shape has a kernel for headDim (the tensor-core one only for 64 and 128). */
        public boolean supports(int headDim) { return !tensorCores || headDim == 64 || headDim == 128; }

        /**
         * Dynamic shared memory of a launch at headDim: the ring, stages × warps × 16 keys × K and V rows of headDim
         * + 8 bf16 (padded against bank conflicts); 0 without one.
         */
        public int sharedBytes(int headDim) { return stages * warps * 16 * 2 * (headDim + 8) * 2; }

        /** "W4U4B2", "W4U4B2T" or "W4U1B2S3M" (case ignored), which must name one of {@link #V3_SHAPES}. */
        public static V3Shape parse(String name) {
            var m = java.util.regex.Pattern.compile("W(\\d+)U(\\d+)B(\\d+)(T?)(?:S(\\d+))?(M?)").matcher(name.trim().toUpperCase(java.util.Locale.ROOT));
            if (!m.matches()) throw new IllegalArgumentException("V3 shape must look like W4U4B2, W4U4B2T or W4U1B2S3M, not " + name);
            V3Shape shape = new V3Shape(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                    Integer.parseInt(m.group(3)), !m.group(4).isEmpty(), m.group(5) == null ? 0 : Integer.parseInt(m.group(5)),
                    !m.group(6).isEmpty());
            if (!V3_SHAPES.contains(shape)) throw new IllegalArgumentException("no V3 kernel " + name + "; built: " + V3_SHAPES);
            return shape;
        }

        /** The shape -Dradixlm.attention.v3 names, else {@link #DEFAULT}. */
        public static V3Shape fromSystemProperty() {
            String name = System.getProperty("radixlm.attention.v3");
            return name == null || name.isBlank() ? DEFAULT : parse(name);
        }

        @Override
        public String toString() {
            return "W" + warps + "U" + passes + "B" + minBlocks + (transposed ? "T" : "") + (stages > 0 ? "S" + stages : "")
                    + (tensorCores ? "M" : "");
        }
    }

    /**
     * Who merges a V3 launch's split states into out. SEPARATE (default): attention_reduce_split, a second launch.
     * FUSED (-Dradixlm.attention.fusedReduce=true): the V3 kernel's _fused twin, whose last split to finish for a
     * (token, KV head) merges them (one serial launch fewer per layer), with the same bits. Only V3 has the twin.
     */
    public enum Merge {
        SEPARATE, FUSED;

        /** FUSED if the JVM was started with -Dradixlm.attention.fusedReduce=true. */
        public static Merge fromSystemProperty() {
            return Boolean.getBoolean("radixlm.attention.fusedReduce") ? FUSED : SEPARATE;
        }
    }

    /** The V3 instantiations in paged_attention.cu (PAGED_ATTENTION_V3_SHAPES: keep the two lists equal). */
    public static final java.util.List<V3Shape> V3_SHAPES = java.util.List.of(new V3Shape(4, 4, 2, false),
            new V3Shape(8, 2, 2, false), new V3Shape(4, 4, 2, true), V3Shape.TENSOR_CORES);

    /**
     * How one launch split the keys: what attention_reduce needs to merge the states; outWritten: the kernel merged
     * them into out itself (fused V3, or V3 in clusters), and the reduce has nothing to do.
     */
    public record Splits(Variant variant, int numSplits, boolean outWritten) {
        public Splits {
            if (numSplits < 1) throw new IllegalArgumentException("at least one split, got " + numSplits);
            if (outWritten && variant != Variant.V3) throw new IllegalArgumentException("only V3 merges its own splits");
        }

        /** States left in the workspace for the reduce. */
        public Splits(Variant variant, int numSplits) { this(variant, numSplits, false); }
    }

    /** CTAs per cluster of the _cluster16 kernels: the splits of one (token, KV head), merged inside the cluster. */
    public static final int CLUSTER_SIZE = 16;
    /**
     * The most keys a token of a clustered launch may attend. With 16 CTAs per (token, KV head) a launch at batch 1
     * streams K/V on ~128 CTAs, about half the rate of the split kernel's full waves: measured on the H200 (8B
     * layer), clusters save ~4 µs a layer at 1k keys and lose 38 µs at 32k (0.081 against 0.043 ms).
     */
    public static final int CLUSTER_MAX_KEYS = 2048;
    /**
     * The largest head dim whose decode runs in clusters by default: all of them. Measured on the H200 (decode b1 at 1k
     * keys, in the step), first with the cluster merge's remote loads issued one rank after the other: head dim 64
     * (Llama-3.2-1B) 7.1 µs a layer in clusters against 9.9 for the split kernel and its reduce; head dim 128
     * (Llama-3.1-8B) 8.5 against 7.8, so clusters stopped at 64. With the merge's 3 · 16 loads in flight together
     * (bench item 1, ms a step, one call): 8B 3.807 against 3.839 with clusters to 64 only, Qwen3-0.6B 0.713 against
     * 0.751, 1B 0.794 against 0.795.
     */
    public static final int CLUSTER_MAX_HEAD_DIM = 128;

    /**
     * At most this many splits (V3, separate reduce) when no token attends more than {@link #CLUSTER_MAX_KEYS} keys:
     * the wave-filling count gives batch 1 of 8 KV heads 32 splits of 32 keys at 1k context, and the reduce's merge
     * of 32 states then costs more than the longer splits save. Measured on the H200, bench item 1, two A/B pairs
     * in one call: 8B 4.023/4.022 ms with 16 against 4.028/4.027 with 32, Qwen3-0.6B 0.833/0.833 against
     * 0.838/0.838; 8 splits lost (8B 4.119 ms). The graph of a short context class is captured with this bound,
     * so it holds as its contexts grow to CLUSTER_MAX_KEYS. -Dradixlm.attention.shortContextSplits=0: no cap.
     */
    static final int SHORT_CONTEXT_SPLITS = Integer.getInteger("radixlm.attention.shortContextSplits", 16);
    /**
     * Decode-only launches of at least {@link #LONG_CONTEXT_MIN_TOKENS} tokens whose block-table rows hold at least
     * {@link #LONG_CONTEXT_MIN_KEYS} keys run the tensor-core kernel ({@link V3Shape#TENSOR_CORES}) at head dim 64 when
     * the kernel's own shape is {@link V3Shape#DEFAULT}. Measured on the H200 in the decode step (bench item 2,
     * Llama-3.2-1B shape, ms a step, V3 against tensor cores, two calls): batch 256 at 8k 20.39 / 18.64 and 21.44 /
     * 18.67; batch 64 at 8k 5.67 / 5.53 and 5.83 / 5.52; batch 256 at 1k 4.42 / 4.33 and 4.51 / 4.30; batch 16 and
     * batch 64 at 1k 1.32 / 1.35 and 1.91 / 1.95 (lost); batch 1 lost (the SM's shared memory then crowds out the
     * L1 the GEMVs read through). At head dim 128 (104 KB a CTA) the step lost at every batch measured (8B batch 1,
     * the nano-vllm workload on Qwen3-0.6B), so it stays on V3. -Dradixlm.attention.longContextTensorCores=false: off.
     */
    static final boolean LONG_CONTEXT_TENSOR_CORES = !"false".equals(System.getProperty("radixlm.attention.longContextTensorCores"));
    static final int LONG_CONTEXT_MIN_TOKENS = 64;
    static final int LONG_CONTEXT_MIN_KEYS = 4096;
    static final int LONG_CONTEXT_HEAD_DIM = 64;
    /**
     * Whether a 1-token decode launch in clusters may apply the step's q/k norm and RoPE itself ({@link #launchWithRope}),
     * so that the RoPE kernel of models with q/k norms is not launched. -Dradixlm.attention.rope=false: off.
     */
    static final boolean ROPE_IN_CLUSTERS = !"false".equals(System.getProperty("radixlm.attention.rope"));
    /** The head dims that have a _rope cluster kernel. */
    static final java.util.List<Integer> ROPE_HEAD_DIMS = java.util.List.of(64, 128);
    /** Whether decode-only launches may load the older keys before their wait (-Dradixlm.attention.earlyLoads). */
    static final boolean EARLY_LOADS = !"false".equals(System.getProperty("radixlm.attention.earlyLoads"));

    private final CudaDevice device;
    private final Variant variant;
    private final V3Shape v3Shape;
    private final Merge merge;
    /** Blocks per multiprocessor of each streaming kernel, asked up front: not while a CUDA graph is being captured. */
    private final java.util.Map<String, Integer> residentBlocks = new java.util.HashMap<>();
    /** Clusters each _cluster16 kernel runs at once on this GPU; empty when the cluster merge is off. */
    private final java.util.Map<String, Integer> clusterCapacity = new java.util.HashMap<>();

    public PagedAttentionKernel(CudaDevice device) { this(device, Variant.fromSystemProperty()); }

    public PagedAttentionKernel(CudaDevice device, Variant variant) { this(device, variant, V3Shape.fromSystemProperty()); }

    public PagedAttentionKernel(CudaDevice device, Variant variant, V3Shape v3Shape) {
        this(device, variant, v3Shape, Merge.fromSystemProperty());
    }

    /**
     * v3Shape: which V3 instantiation runs (used only by {@link Variant#V3}); one of {@link #V3_SHAPES}. merge: who
     * merges the splits of V3 (the other variants always leave it to {@link AttentionReduceKernel}).
     */
    public PagedAttentionKernel(CudaDevice device, Variant variant, V3Shape v3Shape, Merge merge) {
        this(device, variant, v3Shape, merge, "false".equals(System.getProperty("radixlm.attention.cluster")) ? 0
                : Integer.getInteger("radixlm.attention.clusterHeadDim", CLUSTER_MAX_HEAD_DIM));
    }

    /**
     * As above; clusterMaxHeadDim: the largest head dim (0: none) whose launches of few (token, KV head) pairs that
     * are given an out buffer (a decode step at batch 1 or 2) run the default V3 shape in clusters of
     * {@link #CLUSTER_SIZE} splits that merge through distributed shared memory and write out themselves (Hopper;
     * {@link #CLUSTER_MAX_HEAD_DIM} unless -Dradixlm.attention.clusterHeadDim says otherwise, none with
     * -Dradixlm.attention.cluster=false).
     */
    public PagedAttentionKernel(CudaDevice device, Variant variant, V3Shape v3Shape, Merge merge, int clusterMaxHeadDim) {
        if (!V3_SHAPES.contains(v3Shape)) throw new IllegalArgumentException("no V3 kernel " + v3Shape + "; built: " + V3_SHAPES);
        this.device = device;
        this.variant = variant;
        this.v3Shape = v3Shape;
        this.merge = variant == Variant.V3 ? merge : Merge.SEPARATE;
        if (variant.packedStates()) {
            for (int headDim : SUPPORTED_HEAD_DIMS) {
                for (int group = 1; group <= MAX_GROUP; group *= 2) {
                    for (V3Shape shape : java.util.stream.Stream.of(v3Shape(headDim), longContextShape(headDim)).distinct().toList()) {
                        String kernel = streamingKernel(headDim, group, fused(), shape);
                        residentBlocks.put(kernel, device.maxResidentBlocks(kernel, streamingThreads(),
                                streamingSharedBytes(headDim, shape)));
                    }
                    if (headDim <= clusterMaxHeadDim && variant == Variant.V3 && v3Shape.equals(V3Shape.DEFAULT) && this.merge == Merge.SEPARATE
                            && device.launchesClusters()) {
                        String clustered = clusterKernel(headDim, group);
                        clusterCapacity.put(clustered, device.maxActiveClusters(clustered, CLUSTER_SIZE,
                                new Dim3(1, 1, CLUSTER_SIZE), Dim3.of(streamingThreads())));
                        if (ROPE_IN_CLUSTERS && ROPE_HEAD_DIMS.contains(headDim)) {
                            String withRope = clustered + "_rope";
                            clusterCapacity.put(withRope, device.maxActiveClusters(withRope, CLUSTER_SIZE,
                                    new Dim3(1, 1, CLUSTER_SIZE), Dim3.of(streamingThreads())));
                        }
                    }
                }
            }
        }
    }

    /**
     * Whether a launch of numTokens tokens, none attending more than maxKeys keys, given an out buffer runs in
     * clusters (and writes out itself): the cluster merge is on, maxKeys ≤ {@link #CLUSTER_MAX_KEYS}, and this GPU
     * runs all numTokens × KV heads clusters at once.
     */
    public boolean mergesInClusters(int numTokens, Layout layout, int maxKeys) {
        Integer capacity = clusterCapacity.get(clusterKernel(layout.headDim(), layout.numHeads() / layout.numKvHeads()));
        return capacity != null && maxKeys <= CLUSTER_MAX_KEYS && (long) numTokens * layout.numKvHeads() <= capacity;
    }

    /**
     * Whether {@link #launchWithRope} takes a launch of numTokens tokens over at most maxKeys keys: one token, in
     * clusters, at a head dim with a _rope kernel.
     */
    public boolean appliesRope(int numTokens, Layout layout, int maxKeys) {
        Integer capacity = clusterCapacity.get(clusterKernel(layout.headDim(), layout.numHeads() / layout.numKvHeads()) + "_rope");
        return numTokens == 1 && capacity != null && maxKeys <= CLUSTER_MAX_KEYS && layout.numKvHeads() <= capacity;
    }

    /**
     * The inputs of a 1-token step's q/k norm and RoPE (as {@link RopeKvWriteKernel} takes them): the qkv GEMV's row,
     * its bias (or null), the q and k norm weights (or both null), the token's angles ({@link FusedGemvKernel#ropeAngles})
     * and its KV slot.
     */
    public record RopeInputs(DeviceMemory qkv, DeviceMemory bias, DeviceMemory qNormWeight, DeviceMemory kNormWeight,
                             DeviceMemory angles, DeviceMemory slotMapping, float eps) { }

    /**
     * A 1-token decode step's attention that first applies the token's q/k norm and RoPE, as
     * {@link RopeKvWriteKernel} would (the same bits): q from rope.qkv, the own key and value written into kCache and
     * vCache by the cluster whose split holds it; then as {@link #launch} in clusters, into out. Only where
     * {@link #appliesRope} says so.
     */
    public Splits launchWithRope(RopeInputs rope, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                                 DeviceMemory tokenSeq, DeviceMemory blockTables, Layout layout, AttentionWorkspace workspace,
                                 DeviceMemory out, boolean oldKeysReady, int maxKeys) {
        if (!appliesRope(1, layout, maxKeys)) throw new IllegalStateException("no clustered RoPE attention for " + layout);
        int qkvWidth = (layout.numHeads() + 2 * layout.numKvHeads()) * layout.headDim();
        RopeKvWriteKernel.requireProjection(rope.qkv(), rope.bias(), rope.qNormWeight(), rope.kNormWeight(), 1, qkvWidth,
                layout.headDim());
        rope.angles().requireElements(layout.headDim(), 4, "rope angles");
        rope.slotMapping().requireElements(1, 4, "slotMapping");
        requireCacheAndTables(kCache, vCache, positions, tokenSeq, blockTables, 1, 1, layout);
        out.requireElements((long) layout.numHeads() * layout.headDim(), 2, "attention out");
        boolean early = oldKeysReady && EARLY_LOADS;
        device.launchCluster(clusterKernel(layout.headDim(), layout.numHeads() / layout.numKvHeads()) + "_rope",
                new Dim3(1, layout.numKvHeads(), CLUSTER_SIZE), Dim3.of(streamingThreads()), CLUSTER_SIZE,
                v3Args(rope.qkv(), kCache, vCache, positions, tokenSeq, blockTables, layout, workspace, null, CLUSTER_SIZE,
                        out, null, early)
                        .ptr(rope.qkv()).ptr(RopeKvWriteKernel.addressOrNull(rope.bias()))
                        .ptr(RopeKvWriteKernel.addressOrNull(rope.qNormWeight())).ptr(RopeKvWriteKernel.addressOrNull(rope.kNormWeight()))
                        .ptr(rope.angles()).ptr(rope.slotMapping()).ptr(kCache).ptr(vCache).f32(rope.eps()));
        return new Splits(variant, CLUSTER_SIZE, true);
    }

    /** The layer's K/V cache and the step's positions, sequences and block tables are as large as the launch reads. */
    private static void requireCacheAndTables(DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                                              DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                                              Layout layout) {
        long cacheElements = (long) layout.numPages() * layout.pageSize() * layout.numKvHeads() * layout.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        positions.requireElements(numTokens, 4, "positions");
        tokenSeq.requireElements(numTokens, 4, "tokenSeq");
        blockTables.requireElements((long) numSeqs * layout.maxPagesPerSeq(), 4, "blockTables");
    }

    public Variant variant() { return variant; }

    /** Whether launches given an out buffer write it themselves (V3 with {@link Merge#FUSED}). */
    public boolean fused() { return merge == Merge.FUSED; }

    /** The variant, and for V3 its shape and merge: "V3 W4U2B4", "V3 W4U4B2 fused". */
    public String describe() {
        return variant == Variant.V3 ? variant + " " + v3Shape + (fused() ? " fused" : "")
                + (clusterCapacity.isEmpty() ? "" : ", clusters of " + CLUSTER_SIZE + " at few tokens") : variant.toString();
    }

    /** Paged KV layout of one layer. */
    public record Layout(int numHeads, int numKvHeads, int headDim, int pageSize, int numPages, int maxPagesPerSeq) {
        public Layout {
            if (!SUPPORTED_HEAD_DIMS.contains(headDim)) {
                throw new IllegalArgumentException("attention supports head_dim " + SUPPORTED_HEAD_DIMS + ", not " + headDim);
            }
            if (numHeads % numKvHeads != 0 || numHeads / numKvHeads > MAX_GROUP) {
                throw new IllegalArgumentException("GQA group size must divide evenly and be at most " + MAX_GROUP);
            }
        }
    }

    public Splits launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                         DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                         Layout layout, AttentionWorkspace workspace) {
        return launch(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, numSeqs, layout, workspace, null);
    }

    /**
     * As above, leaving out the tokens whose skipToken entry (numTokens ints; null: none) is nonzero:
     * those rows belong to {@link PrefillAttentionKernel}. Returns how the keys were split, for the reduce.
     * The states always go to the workspace (even when {@link #fused()}: with no out to write, nothing merges them).
     */
    public Splits launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                         DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                         Layout layout, AttentionWorkspace workspace, DeviceMemory skipToken) {
        return launch(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, numSeqs, layout, workspace,
                skipToken, null);
    }

    /**
     * As above with the attention output out (numTokens, numHeads, headDim) bf16, which a {@link #fused()} kernel
     * writes itself (all but the skipped tokens' rows; the returned Splits say so, and the reduce then launches
     * nothing); other kernels leave it to the reduce. null: as above.
     */
    public Splits launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                         DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                         Layout layout, AttentionWorkspace workspace, DeviceMemory skipToken, DeviceMemory out) {
        return launch(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, numSeqs, layout, workspace,
                skipToken, out, false, Integer.MAX_VALUE);
    }

    /**
     * As above; oldKeysReady: every token is its sequence's only new token, so that the keys before its own were
     * written before the kernels ahead of this one on the stream (earlier steps), and so were positions, tokenSeq and
     * blockTables. V3 then issues its page-table reads and first K/V loads before it waits for those kernels (under
     * dependent launch, while they run); only q and each token's own key are read after the wait. The result is the
     * same, bit for bit. Off with -Dradixlm.attention.earlyLoads=false. maxKeys: the most keys a token of this launch
     * (or of any later replay of a graph that captures it) attends, which picks the kernel ({@link #mergesInClusters});
     * the result is right whatever it says.
     */
    public Splits launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                         DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                         Layout layout, AttentionWorkspace workspace, DeviceMemory skipToken, DeviceMemory out,
                         boolean oldKeysReady, int maxKeys) {
        if (numTokens > workspace.maxTokens() || layout.numHeads() != workspace.numHeads()
                || layout.headDim() != workspace.headDim()) {
            throw new IllegalArgumentException("attention workspace too small for " + numTokens + " tokens");
        }
        q.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 4, "attention q");
        requireCacheAndTables(kCache, vCache, positions, tokenSeq, blockTables, numTokens, numSeqs, layout);
        if (skipToken != null) skipToken.requireElements(numTokens, 4, "skipToken");
        float scale = (float) (1.0 / Math.sqrt(layout.headDim()));
        boolean early = oldKeysReady && EARLY_LOADS && skipToken == null;
        if (out != null && mergesInClusters(numTokens, layout, maxKeys)) {
            out.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 2, "attention out");
            device.launchCluster(clusterKernel(layout.headDim(), layout.numHeads() / layout.numKvHeads()),
                    new Dim3(numTokens, layout.numKvHeads(), CLUSTER_SIZE), Dim3.of(streamingThreads()), CLUSTER_SIZE,
                    v3Args(q, kCache, vCache, positions, tokenSeq, blockTables, layout, workspace, skipToken, CLUSTER_SIZE,
                            out, null, early));
            return new Splits(variant, CLUSTER_SIZE, true);
        }
        if (variant.packedStates()) {
            V3Shape shape = shapeFor(numTokens, layout, oldKeysReady && skipToken == null);
            int numSplits = numSplits(numTokens, layout, workspace, shape);
            if (SHORT_CONTEXT_SPLITS > 0 && maxKeys <= CLUSTER_MAX_KEYS) numSplits = Math.min(numSplits, SHORT_CONTEXT_SPLITS);
            return launchStreaming(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, layout, workspace,
                    skipToken, numSplits, out, early, shape);
        }
        device.launch("paged_attention_hd" + layout.headDim(),
                new Dim3(numTokens, layout.numKvHeads(), workspace.v1Splits()), Dim3.of(THREADS), 0,
                new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(tokenSeq).ptr(blockTables)
                        .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(layout.numHeads())
                        .i32(layout.numKvHeads()).i32(workspace.splitSize()).i32(workspace.maxSplits()).f32(scale)
                        .ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
        return new Splits(Variant.V1, workspace.v1Splits());
    }

    /**
     * The streaming kernel (STREAMING or V3) with a given split count (tests force counts the GPU's size would not
     * pick); the buffers are checked by the caller. out: as {@link #launch}, written only if {@link #fused()}.
     */
    Splits launchStreaming(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                           DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, Layout layout,
                           AttentionWorkspace workspace, DeviceMemory skipToken, int numSplits, DeviceMemory out,
                           boolean oldKeysReady) {
        return launchStreaming(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, layout, workspace,
                skipToken, numSplits, out, oldKeysReady, v3Shape(layout.headDim()));
    }

    private Splits launchStreaming(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                                   DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, Layout layout,
                                   AttentionWorkspace workspace, DeviceMemory skipToken, int numSplits, DeviceMemory out,
                                   boolean oldKeysReady, V3Shape shape) {
        if (!variant.packedStates()) throw new IllegalStateException("V1 has no streaming kernel");
        if (numSplits < 1 || numSplits > maxStreamingSplits(numTokens, workspace)) {
            throw new IllegalArgumentException(numSplits + " splits of " + numTokens + " tokens do not fit the workspace");
        }
        if (variant == Variant.V3 && (long) layout.numPages() * layout.pageSize() * layout.numKvHeads() * layout.headDim() / 8
                > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("V3 indexes a layer's cache in ints of 16-byte vectors: at most 32 GiB");
        }
        boolean writesOut = fused() && out != null;
        if (writesOut) out.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 2, "attention out");
        String kernel = streamingKernel(layout.headDim(), layout.numHeads() / layout.numKvHeads(), writesOut, shape);
        var args = variant == Variant.V3  // the plain V3 kernels take (and ignore) the fused ones' out and counters too
                ? v3Args(q, kCache, vCache, positions, tokenSeq, blockTables, layout, workspace, skipToken, numSplits,
                        writesOut ? out : null, writesOut ? workspace.counters() : null, oldKeysReady)
                : streamingArgs(q, kCache, vCache, positions, tokenSeq, blockTables, layout, workspace, skipToken, numSplits);
        device.launch(kernel, new Dim3(numTokens, layout.numKvHeads(), numSplits), Dim3.of(streamingThreads()),
                streamingSharedBytes(layout.headDim(), shape), args);
        return new Splits(variant, numSplits, writesOut);
    }

    /** The arguments of paged_attention_split_* (V2), which open those of V3. */
    private static KernelArgs streamingArgs(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache,
                                            DeviceMemory positions, DeviceMemory tokenSeq, DeviceMemory blockTables,
                                            Layout layout, AttentionWorkspace workspace, DeviceMemory skipToken,
                                            int numSplits) {
        float scale = (float) (1.0 / Math.sqrt(layout.headDim()));
        int pageShift = Integer.bitCount(layout.pageSize()) == 1 ? Integer.numberOfTrailingZeros(layout.pageSize()) : -1;
        return new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(tokenSeq).ptr(blockTables)
                .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(pageShift).i32(layout.numHeads())
                .i32(layout.numKvHeads()).i32(numSplits).f32(scale)
                .ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                .ptr(RopeKvWriteKernel.addressOrNull(skipToken));
    }

    /** The arguments of paged_attention_v3_*: V2's, then out and counters (null where unused) and oldKeysReady. */
    private static KernelArgs v3Args(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                                     DeviceMemory tokenSeq, DeviceMemory blockTables, Layout layout,
                                     AttentionWorkspace workspace, DeviceMemory skipToken, int numSplits,
                                     DeviceMemory out, DeviceMemory counters, boolean oldKeysReady) {
        return streamingArgs(q, kCache, vCache, positions, tokenSeq, blockTables, layout, workspace, skipToken, numSplits)
                .ptr(RopeKvWriteKernel.addressOrNull(out)).ptr(RopeKvWriteKernel.addressOrNull(counters))
                .i32(oldKeysReady ? 1 : 0);
    }

    /**
     * Splits per token for a streaming launch over numTokens tokens, at least one, at most what the workspace
     * holds and {@link #MAX_SPLITS}. STREAMING: as many as keep every (token, KV head, split) block resident in
     * one wave (a second, partial wave would leave HBM idle at its tail). V3: {@link #balancedSplits}, which also
     * fills the waves of batches with more blocks than one wave holds, and of residencies (3 blocks per SM) that
     * leave a third of the GPU idle under the one-wave rule (batch 32 on 8 KV heads: 256 of 396 slots).
     * The context plays no part: each block derives its keys from the token's position, so a graph captured
     * with this grid stays right as contexts grow.
     */
    public int numSplits(int numTokens, Layout layout, AttentionWorkspace workspace) {
        return numSplits(numTokens, layout, workspace, v3Shape(layout.headDim()));
    }

    private int numSplits(int numTokens, Layout layout, AttentionWorkspace workspace, V3Shape shape) {
        if (variant == Variant.V1) return workspace.v1Splits();
        int perMultiprocessor = residentBlocks.get(streamingKernel(layout.headDim(), layout.numHeads() / layout.numKvHeads(),
                fused(), shape));
        long wave = Math.max(1, (long) perMultiprocessor * device.numMultiprocessors());
        long blocksPerSplit = (long) numTokens * layout.numKvHeads();
        int maxSplits = maxStreamingSplits(numTokens, workspace);
        if (variant == Variant.V3) return balancedSplits(blocksPerSplit, wave, maxSplits);
        return (int) Math.max(1, Math.min(wave / blocksPerSplit, maxSplits));
    }

    /**
     * The fewest splits (1 .. maxSplits) whose blocks, blocksPerSplit per split, keep at least 95% of the slots
     * of their waves busy (blocks ÷ (waves × wave resident blocks)); if no count does, the one that comes closest.
     * Fewest: fewer partial states to merge and less per-block overhead.
     */
    static int balancedSplits(long blocksPerSplit, long wave, int maxSplits) {
        int best = 1;
        for (int s = 1; s <= maxSplits; s++) {
            double busy = busyFraction(blocksPerSplit * s, wave);
            if (busy >= 0.95) return s;
            if (busy > busyFraction(blocksPerSplit * best, wave)) best = s;
        }
        return best;
    }

    private static double busyFraction(long blocks, long wave) {
        long waves = (blocks + wave - 1) / wave;
        return (double) blocks / (waves * wave);
    }

    /** The streaming states are packed (numTokens, numHeads, numSplits): few tokens may use many splits. */
    private static int maxStreamingSplits(int numTokens, AttentionWorkspace workspace) {
        return (int) Math.min(MAX_SPLITS, (long) workspace.maxTokens() * workspace.maxSplits() / numTokens);
    }

    /**
     * paged_attention_split_hd{headDim}_g{G} or paged_attention_v3_hd{headDim}_g{G}_{shape}[_fused], G: the group
     * rounded up to 1, 2, 4 or 8.
     */
    private String streamingKernel(int headDim, int group, boolean writesOut, V3Shape shape) {
        if (variant == Variant.V3) {
            return "paged_attention_v3_hd" + headDim + "_g" + paddedGroup(group) + "_" + shape.toString().toLowerCase(java.util.Locale.ROOT)
                    + (writesOut ? "_fused" : "");
        }
        return "paged_attention_split_hd" + headDim + "_g" + paddedGroup(group);
    }

    /** paged_attention_v3_hd{headDim}_g{G}_w4u4b2_cluster16: the default V3 shape in clusters, G the padded group. */
    private static String clusterKernel(int headDim, int group) {
        return "paged_attention_v3_hd" + headDim + "_g" + paddedGroup(group) + "_" + V3Shape.DEFAULT.toString().toLowerCase(java.util.Locale.ROOT)
                + "_cluster" + CLUSTER_SIZE;
    }

    /** The GQA group rounded up to the instantiated 1, 2, 4 or 8. */
    private static int paddedGroup(int group) {
        return Integer.highestOneBit(group) == group ? group : Integer.highestOneBit(group) << 1;
    }

    private int streamingThreads() { return variant == Variant.V3 ? 32 * v3Shape.warps() : THREADS; }

    /** Dynamic shared memory of a streaming launch of shape at headDim: V3's ring, if the shape has one. */
    private int streamingSharedBytes(int headDim, V3Shape shape) {
        return variant == Variant.V3 ? shape.sharedBytes(headDim) : 0;
    }

    /** The shape a long-context decode launch at headDim runs ({@code LONG_CONTEXT_TENSOR_CORES}). */
    private V3Shape longContextShape(int headDim) {
        return variant == Variant.V3 && LONG_CONTEXT_TENSOR_CORES && v3Shape.equals(V3Shape.DEFAULT)
                && headDim == LONG_CONTEXT_HEAD_DIM ? V3Shape.TENSOR_CORES : v3Shape(headDim);
    }

    /**
     * The V3 shape of a launch of numTokens tokens (decodeOnly: each its sequence's only new token): the long-context
     * shape for at least {@link #LONG_CONTEXT_MIN_TOKENS} decode tokens over table rows of at least
     * {@link #LONG_CONTEXT_MIN_KEYS} keys (a graph captures the row width, so its replays keep the choice), else the
     * kernel's own.
     */
    V3Shape shapeFor(int numTokens, Layout layout, boolean decodeOnly) {
        return isLongContextDecode(numTokens, layout, decodeOnly) ? longContextShape(layout.headDim()) : v3Shape(layout.headDim());
    }

    /** Whether a launch is a long-context decode (see {@link #shapeFor}); the head dim decides the rest. */
    static boolean isLongContextDecode(int numTokens, Layout layout, boolean decodeOnly) {
        return decodeOnly && numTokens >= LONG_CONTEXT_MIN_TOKENS
                && (long) layout.maxPagesPerSeq() * layout.pageSize() >= LONG_CONTEXT_MIN_KEYS;
    }

    /** The V3 shape that runs at headDim: the chosen one, or {@link V3Shape#DEFAULT} where it has no kernel. */
    private V3Shape v3Shape(int headDim) { return v3Shape.supports(headDim) ? v3Shape : V3Shape.DEFAULT; }
}
