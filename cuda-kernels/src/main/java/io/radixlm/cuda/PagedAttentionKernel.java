package io.radixlm.cuda;

/**
 * Decode attention over the paged cache: each new token (numTokens) attends keys [0, positions[t]] of its
 * sequence tokenSeq[t], read from kCache/vCache (numSlots, numKvHeads, headDim) bf16 through blockTables
 * (numSeqs, maxPagesPerSeq); q (numTokens, numHeads, headDim) f32. The keys of a token are split along the
 * sequence. The FUSED kernel (default) merges the splits itself and writes out (numTokens, numHeads, headDim)
 * bf16; the older kernels write one softmax state per split into the workspace, and {@link AttentionReduceKernel}
 * merges them into out (told how by the {@link Splits} that launch returns; for FUSED it does nothing).
 */
public final class PagedAttentionKernel {
    private static final int THREADS = 128;
    private static final int MAX_GROUP = 8;
    /** Most splits per token of the streaming kernel (SPLIT_MAX in paged_attention.cu, attention_reduce_split). */
    public static final int MAX_SPLITS = 256;
    /** The instantiations of paged_attention_hd* and paged_attention_split_hd* in paged_attention.cu. */
    public static final java.util.List<Integer> SUPPORTED_HEAD_DIMS = java.util.List.of(32, 48, 64, 96, 128);

    /** Fewest keys per split of the fused kernel (-Dradixlm.attention.minSplitKeys overrides), see {@link #minSplitKeys()}. */
    public static final int DEFAULT_MIN_SPLIT_KEYS = 128;

    /**
     * Which kernels run. FUSED (default): paged_attention_fused_*, K/V through cp.async rings, at least
     * {@link #minSplitKeys()} keys per split, the splits merged by the last CTA of each (token, KV head): no
     * reduce launch. STREAMING (-Dradixlm.attention.v2=true): paged_attention_split_* + attention_reduce_split,
     * K/V loads in registers. V1 (-Dradixlm.attention.v1=true): the first kernel, a warp per key and the
     * workspace's fixed split size, + attention_reduce. The older two are kept for an A/B on the GPU.
     */
    public enum Variant {
        V1, STREAMING, FUSED;

        /** FUSED unless the JVM was started with -Dradixlm.attention.v1=true (V1) or -Dradixlm.attention.v2=true (STREAMING). */
        public static Variant fromSystemProperty() {
            if (Boolean.getBoolean("radixlm.attention.v1")) return V1;
            return Boolean.getBoolean("radixlm.attention.v2") ? STREAMING : FUSED;
        }
    }

    /** How one launch split the keys: what attention_reduce needs to merge the states. */
    public record Splits(Variant variant, int numSplits) {
        public Splits {
            if (numSplits < 1) throw new IllegalArgumentException("at least one split, got " + numSplits);
        }

        /** False after the fused kernel: it has written out already. */
        public boolean needsReduce() { return variant != Variant.FUSED; }
    }

    private final CudaDevice device;
    private final Variant variant;
    private final int minSplitKeys;
    /** Blocks per multiprocessor of each streaming / fused kernel, asked up front: not while a CUDA graph is being captured. */
    private final java.util.Map<String, Integer> residentBlocks = new java.util.HashMap<>();

    public PagedAttentionKernel(CudaDevice device) {
        this(device, Variant.fromSystemProperty(), Integer.getInteger("radixlm.attention.minSplitKeys", DEFAULT_MIN_SPLIT_KEYS));
    }

    public PagedAttentionKernel(CudaDevice device, Variant variant) { this(device, variant, DEFAULT_MIN_SPLIT_KEYS); }

    /** minSplitKeys: the fused kernel's fewest keys per split (it uses fewer splits than launched on short contexts). */
    public PagedAttentionKernel(CudaDevice device, Variant variant, int minSplitKeys) {
        if (minSplitKeys < 1) throw new IllegalArgumentException("minSplitKeys must be positive, got " + minSplitKeys);
        this.device = device;
        this.variant = variant;
        this.minSplitKeys = minSplitKeys;
        if (variant != Variant.V1) {
            for (int headDim : SUPPORTED_HEAD_DIMS) {
                for (int group = 1; group <= MAX_GROUP; group *= 2) {
                    String kernel = kernelName(variant, headDim, group);
                    residentBlocks.put(kernel, device.maxResidentBlocks(kernel, THREADS, sharedBytes(variant, headDim)));
                }
            }
        }
    }

    public Variant variant() { return variant; }

    /**
     * The fused kernel's fewest keys per split: a token of n keys uses min(numSplits, ceil(n / minSplitKeys)) of
     * the launched splits. 128 keys of a KV head are 64 KB of K/V at head_dim 128: about as long to stream as a
     * split's fixed costs (q, the first tile's latency, the state write and merge), so shorter splits would
     * mostly add those costs, while longer ones would leave most of the GPU idle at contexts of a few thousand.
     */
    public int minSplitKeys() { return minSplitKeys; }

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

    /**
     * out (numTokens, numHeads, headDim) bf16: written by the fused kernel, else by the {@link AttentionReduceKernel}
     * launch that must follow when the returned {@link Splits#needsReduce()}.
     */
    public Splits launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                         DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                         Layout layout, AttentionWorkspace workspace, DeviceMemory out) {
        return launch(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, numSeqs, layout, workspace, null, out);
    }

    /**
     * As above, leaving out the tokens whose skipToken entry (numTokens ints; null: none) is nonzero:
     * those rows belong to {@link PrefillAttentionKernel}. Returns how the keys were split, for the reduce.
     */
    public Splits launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                         DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, int numSeqs,
                         Layout layout, AttentionWorkspace workspace, DeviceMemory skipToken, DeviceMemory out) {
        if (numTokens > workspace.maxTokens() || layout.numHeads() != workspace.numHeads()
                || layout.headDim() != workspace.headDim()) {
            throw new IllegalArgumentException("attention workspace too small for " + numTokens + " tokens");
        }
        q.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 4, "attention q");
        long cacheElements = (long) layout.numPages() * layout.pageSize() * layout.numKvHeads() * layout.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        positions.requireElements(numTokens, 4, "positions");
        tokenSeq.requireElements(numTokens, 4, "tokenSeq");
        blockTables.requireElements((long) numSeqs * layout.maxPagesPerSeq(), 4, "blockTables");
        if (skipToken != null) skipToken.requireElements(numTokens, 4, "skipToken");
        out.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 2, "attention out");
        float scale = (float) (1.0 / Math.sqrt(layout.headDim()));
        if (variant == Variant.FUSED) {
            return launchFused(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, layout, workspace,
                    skipToken, numSplits(numTokens, layout, workspace), minSplitKeys, out);
        }
        if (variant == Variant.STREAMING) {
            return launchStreaming(q, kCache, vCache, positions, tokenSeq, blockTables, numTokens, layout, workspace,
                    skipToken, numSplits(numTokens, layout, workspace));
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
     * The streaming kernel with a given split count (tests force counts the GPU's size would not pick); the
     * buffers are checked by the caller.
     */
    Splits launchStreaming(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                           DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, Layout layout,
                           AttentionWorkspace workspace, DeviceMemory skipToken, int numSplits) {
        if (numSplits < 1 || numSplits > maxStreamingSplits(numTokens, workspace)) {
            throw new IllegalArgumentException(numSplits + " splits of " + numTokens + " tokens do not fit the workspace");
        }
        String kernel = kernelName(Variant.STREAMING, layout.headDim(), layout.numHeads() / layout.numKvHeads());
        float scale = (float) (1.0 / Math.sqrt(layout.headDim()));
        int pageShift = Integer.bitCount(layout.pageSize()) == 1 ? Integer.numberOfTrailingZeros(layout.pageSize()) : -1;
        device.launch(kernel, new Dim3(numTokens, layout.numKvHeads(), numSplits), Dim3.of(THREADS), 0,
                new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(tokenSeq).ptr(blockTables)
                        .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(pageShift).i32(layout.numHeads())
                        .i32(layout.numKvHeads()).i32(numSplits).f32(scale)
                        .ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
        return new Splits(Variant.STREAMING, numSplits);
    }

    /**
     * The fused kernel with a given split count and fewest keys per split (tests force both); writes out. The
     * buffers are checked by the caller.
     */
    Splits launchFused(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                       DeviceMemory tokenSeq, DeviceMemory blockTables, int numTokens, Layout layout,
                       AttentionWorkspace workspace, DeviceMemory skipToken, int numSplits, int fewestSplitKeys,
                       DeviceMemory out) {
        if (numSplits < 1 || numSplits > maxStreamingSplits(numTokens, workspace) || fewestSplitKeys < 1) {
            throw new IllegalArgumentException(numSplits + " splits of " + numTokens + " tokens do not fit the workspace");
        }
        if ((long) numTokens * layout.numKvHeads() > workspace.counters().bytes() / 4) {
            throw new IllegalArgumentException("attention workspace has too few counters for " + numTokens + " tokens");
        }
        String kernel = kernelName(Variant.FUSED, layout.headDim(), layout.numHeads() / layout.numKvHeads());
        float scale = (float) (1.0 / Math.sqrt(layout.headDim()));
        int pageShift = Integer.bitCount(layout.pageSize()) == 1 ? Integer.numberOfTrailingZeros(layout.pageSize()) : -1;
        device.launch(kernel, new Dim3(numTokens, layout.numKvHeads(), numSplits), Dim3.of(THREADS),
                sharedBytes(Variant.FUSED, layout.headDim()),
                new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(tokenSeq).ptr(blockTables)
                        .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(pageShift).i32(layout.numHeads())
                        .i32(layout.numKvHeads()).i32(numSplits).i32(fewestSplitKeys).f32(scale)
                        .ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(workspace.counters()).ptr(out).ptr(RopeKvWriteKernel.addressOrNull(skipToken)));
        return new Splits(Variant.FUSED, numSplits);
    }

    /**
     * Dynamic shared memory of a kernel: for FUSED, FusedShape::SHARED_BYTES in paged_attention.cu, its 4 warps'
     * rings of 4 stages of a K and a V tile of 4 passes of 32 / L keys (L lanes per key hold 8 dims each: 4, 8 or
     * 16); the kernel traps if given less.
     */
    static int sharedBytes(Variant variant, int headDim) {
        if (variant != Variant.FUSED) return 0;
        int dimLanes = headDim / 8;
        int lanesPerKey = dimLanes <= 4 ? 4 : dimLanes <= 8 ? 8 : 16;
        int tileKeys = 32 / lanesPerKey * 4;
        return 4 * 4 * 2 * tileKeys * headDim * 2;
    }

    /**
     * Splits per token for a streaming or fused launch over numTokens tokens: as many as keep every (token, KV head,
     * split) block resident in one wave (a second, partial wave would leave HBM idle at its tail), at least
     * one, at most what the workspace holds and {@link #MAX_SPLITS}. The context plays no part: each block
     * derives its keys from the token's position, so a graph captured with this grid stays right as contexts grow.
     */
    public int numSplits(int numTokens, Layout layout, AttentionWorkspace workspace) {
        if (variant == Variant.V1) return workspace.v1Splits();
        int perMultiprocessor = residentBlocks.get(kernelName(variant, layout.headDim(), layout.numHeads() / layout.numKvHeads()));
        long wave = (long) perMultiprocessor * device.numMultiprocessors();
        long splits = wave / ((long) numTokens * layout.numKvHeads());
        return (int) Math.max(1, Math.min(splits, maxStreamingSplits(numTokens, workspace)));
    }

    /** The streaming states are packed (numTokens, numHeads, numSplits): few tokens may use many splits. */
    private static int maxStreamingSplits(int numTokens, AttentionWorkspace workspace) {
        return (int) Math.min(MAX_SPLITS, (long) workspace.maxTokens() * workspace.maxSplits() / numTokens);
    }

    /** paged_attention_{split, fused}_hd{headDim}_g{group rounded up to 1, 2, 4 or 8}. */
    private static String kernelName(Variant variant, int headDim, int group) {
        int paddedGroup = Integer.highestOneBit(group) == group ? group : Integer.highestOneBit(group) << 1;
        String family = variant == Variant.FUSED ? "paged_attention_fused_hd" : "paged_attention_split_hd";
        return family + headDim + "_g" + paddedGroup;
    }
}
