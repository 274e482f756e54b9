package io.radixlm.cuda;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * prefill_attention_hd{32,48,64,96,128}: causal attention of the new tokens of sequences that bring
 * several at once (a prompt or a prefill chunk), tiled FlashAttention-2 style: one CTA per (tile of query
 * tokens of one sequence, KV head) streams that sequence's K/V pages once for all the tile's rows, on
 * the tensor cores, K/V double-buffered in dynamic shared memory. With one split it writes out
 * (numTokens, numHeads, headDim) bf16 directly, for the tokens its tiles name. When a launch has few CTAs
 * over many keys (a short chunk after a long cached prefix), {@link #split} spreads each tile's key tiles
 * over several CTAs whose softmax states prefill_attention_reduce merges through a {@link PrefillWorkspace}.
 *
 * <p>Tiles come from {@link #tiles}: (numTiles, 4) ints {seq, firstToken, numTokens, 0}.
 */
public final class PrefillAttentionKernel {
    /** (token, head) rows per CTA of the big tiles: 4 warps × 2 m-tiles × 16 in prefill_attention.cu. */
    public static final int ROWS_PER_TILE = 128;
    /** Rows per CTA of the small tiles (prefill_attention_small_*: 4 warps × 1 m-tile), the size before the big tiles. */
    public static final int SMALL_ROWS_PER_TILE = 64;
    /** The tile size CudaBackend uses: -Dradixlm.prefillRows=64 brings back the small tiles for A/B runs. */
    public static final int DEFAULT_ROWS_PER_TILE = Integer.getInteger("radixlm.prefillRows", ROWS_PER_TILE);
    /**
     * Which big-tile kernel runs: -Dradixlm.prefillVariant=base|fast64b|wgmma, unset: wgmma on compute capability 9.0
     * at head_dim 128, else fast64b (measured on the H200 at 8k tokens, 8B shape, per layer, heads order: base
     * 2.376 ms, fast64b 2.055, wgmma 1.55). base: the reference kernel and A/B baseline. fast64b: the softmax in fewer
     * instructions (scale folded into the FFMA before exp2, mask only near the diagonal, exp2 in one MUFU op, no
     * rescale when no row's max moved), 64-key K/V tiles at head_dim 128 (half the barriers per FLOP, a few spilled
     * registers) and the page-slot lookups of a tile's copies issued together; at other head dims it runs the fast
     * softmax on base's tiles (prefill_attention_fast_hd*). wgmma: fast64b's softmax on Hopper's warpgroup MMA,
     * 128-key tiles, two warpgroups per CTA half a tile apart (prefill_attention_wgmma_hd128); at other head dims, or
     * on another GPU, fast64b runs instead. Eight other flavours (fast, fast3, fast64, fast64h, fast64hb, w8,
     * fast64hd, w8d) were measured and removed: BENCHMARKS.md has their times. The small tiles always run their one
     * kernel.
     */
    public static final Flavor DEFAULT_FLAVOR = Flavor.parse(System.getProperty("radixlm.prefillVariant", "auto"));
    /**
     * -Dradixlm.prefillOrder=heads|tiles (default heads; the two are level at 8k, heads shortens the tail
     * of shorter prompts: 1B shape 2k tokens 10.0 → 9.3 ms): heads launches grid (numKvHeads, numTiles, numSplits)
     * so that every KV head of the heaviest tile starts before any lighter tile (longest-first over the whole
     * launch); tiles is the grid (numTiles, numKvHeads, numSplits), heaviest first within each KV head only.
     */
    public static final boolean DEFAULT_HEADS_FASTEST = parseOrder(System.getProperty("radixlm.prefillOrder", "heads"));
    /** A split takes at least this many keys: fewer, and writing and merging its state costs more than it saves. */
    static final int MIN_SPLIT_KEYS = 512;
    /** Threads of the mma.sync kernels (4 warps). */
    private static final int THREADS = 128;
    /** Threads of prefill_attention_wgmma_hd128: two warpgroups. */
    private static final int WGMMA_THREADS = 256;
    /** The compute capability whose machine code (sm_90a) holds the warpgroup MMA. */
    private static final int WGMMA_COMPUTE_CAPABILITY = 90;
    /** CUDA's limit on gridDim.y, where the tiles go with the heads-first order. */
    private static final int MAX_GRID_Y = 65535;
    /** ints per entry of the tile list. */
    public static final int TILE_INTS = 4;
    private final CudaDevice device;
    private final int rowsPerTile;
    private final Flavor flavor;
    private final boolean headsFastest;

    /** The big-tile kernels -Dradixlm.prefillVariant selects: see {@link #DEFAULT_FLAVOR}. */
    public enum Flavor {
        /** prefill_attention_hd*: the reference kernel, 32-key tiles at head_dim 128. */
        BASE,
        /** prefill_attention_fast64b_hd128 at head_dim 128 (64-key tiles), prefill_attention_fast_hd* elsewhere. */
        FAST64B,
        /** prefill_attention_wgmma_hd128 (Hopper's warpgroup MMA, 128-key tiles) at head_dim 128, FAST64B elsewhere. */
        WGMMA,
        /** WGMMA on a GPU of compute capability 9.0, FAST64B on others: the default. */
        AUTO;

        static Flavor parse(String name) {
            for (Flavor f : values()) if (f.name().equalsIgnoreCase(name.strip())) return f;
            throw new IllegalArgumentException("radixlm.prefillVariant must be auto, base, fast64b or wgmma (the other"
                    + " flavours were removed, see BENCHMARKS.md), got " + name);
        }

        /** The flavor that runs on a GPU of this compute capability: AUTO picks; WGMMA needs 9.0. */
        Flavor on(int computeCapability) {
            boolean hopper = computeCapability == WGMMA_COMPUTE_CAPABILITY;
            if (this == AUTO) return hopper ? WGMMA : FAST64B;
            if (this == WGMMA && !hopper) {
                throw new IllegalArgumentException("radixlm.prefillVariant=wgmma needs a GPU of compute capability 9.0"
                        + " (H100/H200); this one has " + computeCapability / 10 + "." + computeCapability % 10);
            }
            return this;
        }
    }

    private static boolean parseOrder(String order) {
        return switch (order.strip().toLowerCase(Locale.ROOT)) {
            case "heads" -> true;
            case "tiles" -> false;
            default -> throw new IllegalArgumentException("radixlm.prefillOrder must be heads or tiles, got " + order);
        };
    }

    public PrefillAttentionKernel(CudaDevice device) { this(device, DEFAULT_ROWS_PER_TILE); }

    /** rowsPerTile: {@link #ROWS_PER_TILE} or {@link #SMALL_ROWS_PER_TILE}; the tiles must be made with the same. */
    public PrefillAttentionKernel(CudaDevice device, int rowsPerTile) {
        this(device, rowsPerTile, DEFAULT_FLAVOR, DEFAULT_HEADS_FASTEST);
    }

    /** As above with the kernel flavor and launch order given instead of read from the system properties. */
    public PrefillAttentionKernel(CudaDevice device, int rowsPerTile, Flavor flavor, boolean headsFastest) {
        checkRows(rowsPerTile);
        this.device = device;
        this.rowsPerTile = rowsPerTile;
        Objects.requireNonNull(flavor, "flavor");
        this.flavor = device == null ? flavor : flavor.on(device.computeCapability());
        this.headsFastest = headsFastest;
    }

    public int rowsPerTile() { return rowsPerTile; }

    /** Which big-tile kernel this launches (the small tiles have one); never AUTO once a device is given. */
    public Flavor flavor() { return flavor; }

    /** Whether the grid puts the KV heads in x (heaviest tiles first over the whole launch). */
    public boolean headsFastest() { return headsFastest; }

    private static void checkRows(int rowsPerTile) {
        if (rowsPerTile != ROWS_PER_TILE && rowsPerTile != SMALL_ROWS_PER_TILE) {
            throw new IllegalArgumentException("prefill rows per tile must be " + ROWS_PER_TILE + " or "
                    + SMALL_ROWS_PER_TILE + ", got " + rowsPerTile);
        }
    }

    /**
     * One kernel variant, as its PREFILL_ATTENTION_ENTRY line in prefill_attention.cu: 128-row tiles hold Q in
     * shared memory at head_dim 96 and 128 (registers run short for two m-tiles) and take 32-key tiles at 128, but
     * for fast64b's 64-key tiles; or prefill_attention_wgmma_hd128 (wgmma true: 128-key tiles, 256 threads).
     */
    record Variant(String name, int rowsPerTile, int keysPerTile, boolean qInSharedMemory, int headDim, boolean wgmma) {
        /** K/V tiles in flight: the STAGES of every entry but the wgmma kernel's. */
        static final int NUM_STAGES = 2;
        /** The wgmma kernel's stages: a tile is read until the barrier after next (its warpgroups run out of step). */
        static final int WGMMA_STAGES = 3;
        /** The wgmma kernel's shared memory starts at a 1024-byte boundary (its swizzle's period). */
        static final int WGMMA_ALIGNMENT = 1024;

        static Variant of(int headDim, int rowsPerTile, Flavor flavor) {
            checkRows(rowsPerTile);
            if (!PagedAttentionKernel.SUPPORTED_HEAD_DIMS.contains(headDim)) {
                throw new IllegalArgumentException("prefill attention: unsupported head_dim " + headDim);
            }
            if (flavor == Flavor.AUTO) throw new IllegalArgumentException("resolve the AUTO flavor on a device first");
            boolean big = rowsPerTile == ROWS_PER_TILE;
            if (big && flavor == Flavor.WGMMA && headDim == 128) {
                return new Variant("prefill_attention_wgmma_hd128", rowsPerTile, 128, false, headDim, true);
            }
            boolean longKeys = big && (flavor == Flavor.FAST64B || flavor == Flavor.WGMMA) && headDim == 128;
            String prefix = !big ? "prefill_attention_small_hd" : longKeys ? "prefill_attention_fast64b_hd"
                    : flavor == Flavor.BASE ? "prefill_attention_hd" : "prefill_attention_fast_hd";
            return new Variant(prefix + headDim, rowsPerTile, big && headDim == 128 && !longKeys ? 32 : 64,
                    big && headDim >= 96, headDim, false);
        }

        /**
         * NUM_STAGES stages of K and V tiles (keysPerTile, headDim + 8) bf16, plus Q (rowsPerTile, headDim + 8) bf16;
         * the wgmma kernel's WGMMA_STAGES stages are unpadded (keysPerTile, headDim), plus room to align them.
         */
        int sharedBytes() {
            if (wgmma) return 2 * 2 * WGMMA_STAGES * keysPerTile * headDim + WGMMA_ALIGNMENT;
            int stride = headDim + 8;
            return 2 * (2 * NUM_STAGES * keysPerTile * stride + (qInSharedMemory ? rowsPerTile * stride : 0));
        }

        int threads() { return wgmma ? WGMMA_THREADS : THREADS; }
    }

    /**
     * How a launch divides each tile's key tiles: numSplits CTAs per (tile, KV head), split z taking key tiles
     * [z · splitTiles, (z + 1) · splitTiles) and the last one the rest. One split: the kernel writes out directly.
     */
    public record Split(int numSplits, int splitTiles) {
        public static final Split NONE = new Split(1, 1);

        public Split {
            if (numSplits < 1 || splitTiles < 1) throw new IllegalArgumentException("bad split " + numSplits + " × " + splitTiles);
        }
    }

    /** Query tokens per tile: all query heads of a GQA group of each token share the tile's rows. */
    public static int tokensPerTile(int group, int rowsPerTile) {
        if (group < 1 || group > rowsPerTile) throw new IllegalArgumentException("bad GQA group " + group);
        return rowsPerTile / group;
    }

    /** As {@link #tiles(int[], int[], int, int, int)} with {@link #DEFAULT_ROWS_PER_TILE}. */
    public static int[] tiles(int[] queryStarts, int[] positions, int group, int minQueryLength) {
        return tiles(queryStarts, positions, group, minQueryLength, DEFAULT_ROWS_PER_TILE);
    }

    /**
     * The tile list for the sequences with at least minQueryLength new tokens, the tiles with the most
     * keys first (the long ones start early, short ones fill the gaps at the end).
     *
     * @param queryStarts (numSeqs + 1) as in ForwardBatch
     * @param positions   (numTokens) absolute positions; ascending within a sequence
     * @return (numTiles, TILE_INTS) flattened
     */
    public static int[] tiles(int[] queryStarts, int[] positions, int group, int minQueryLength, int rowsPerTile) {
        int perTile = tokensPerTile(group, rowsPerTile);
        List<int[]> tiles = new ArrayList<>();
        for (int s = 0; s + 1 < queryStarts.length; s++) {
            int end = queryStarts[s + 1];
            if (end - queryStarts[s] < Math.max(1, minQueryLength)) continue;
            for (int first = queryStarts[s]; first < end; first += perTile) {
                tiles.add(new int[] {s, first, Math.min(perTile, end - first), 0});
            }
        }
        tiles.sort(Comparator.comparingInt((int[] t) -> -positions[t[1] + t[2] - 1]));
        int[] flat = new int[tiles.size() * TILE_INTS];
        for (int i = 0; i < tiles.size(); i++) System.arraycopy(tiles.get(i), 0, flat, i * TILE_INTS, TILE_INTS);
        return flat;
    }

    /** CTAs a multiprocessor is taken to run at once when splitting keys (0: the variant's own count). */
    private static final int SPLIT_CTAS_PER_SM = Integer.getInteger("radixlm.prefillSplitCtasPerSm", 0);

    /**
     * The split over keys for these tiles: none when the (tile, KV head) CTAs already fill the GPU's numSms
     * multiprocessors or the keys are few; else as many splits of at least minSplitKeys keys (normally
     * {@link #MIN_SPLIT_KEYS}) as one wave of the kernel holds (CTAs a multiprocessor runs at once: one of the
     * wgmma kernel's 197 KB, two of the others; -Dradixlm.prefillSplitCtasPerSm overrides), within maxStates
     * workspace states. A second wave would hold CTAs of half the keys each: the same keys a multiprocessor, with
     * twice the CTAs' fixed costs (the pipeline's fill and drain, Q, the states) and twice the states to merge.
     *
     * @param tiles     (numTiles, TILE_INTS) from {@link #tiles}
     * @param positions (numTokens) as given to {@link #tiles}
     */
    public Split split(int[] tiles, int[] positions, int numKvHeads, int headDim, int numSms, int maxStates,
                       int minSplitKeys) {
        int numCtas = tiles.length / TILE_INTS * numKvHeads;
        if (numCtas == 0 || numCtas >= numSms) return Split.NONE;
        Variant variant = Variant.of(headDim, rowsPerTile, flavor);
        int keysPerTile = variant.keysPerTile();
        int maxKeyTiles = 0;
        for (int i = 0; i < tiles.length; i += TILE_INTS) {
            int numKeys = positions[tiles[i + 1] + tiles[i + 2] - 1] + 1;
            maxKeyTiles = Math.max(maxKeyTiles, (numKeys + keysPerTile - 1) / keysPerTile);
        }
        int minSplitTiles = Math.max(1, (minSplitKeys + keysPerTile - 1) / keysPerTile);
        int ctasPerSm = SPLIT_CTAS_PER_SM > 0 ? SPLIT_CTAS_PER_SM : variant.wgmma() ? 1 : 2;
        int numSplits = Math.min(ctasPerSm * numSms / numCtas, maxKeyTiles / minSplitTiles);
        numSplits = Math.min(numSplits, maxStates / (numCtas * rowsPerTile));
        if (numSplits <= 1) return Split.NONE;
        int splitTiles = (maxKeyTiles + numSplits - 1) / numSplits;
        return new Split((maxKeyTiles + splitTiles - 1) / splitTiles, splitTiles);
    }

    /** As {@link #launch(DeviceMemory, DeviceMemory, DeviceMemory, DeviceMemory, DeviceMemory, DeviceMemory, int, int, int, PagedAttentionKernel.Layout, Split, PrefillWorkspace, DeviceMemory)} without a split. */
    public void launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                       DeviceMemory blockTables, DeviceMemory tiles, int numTiles, int numTokens, int numSeqs,
                       PagedAttentionKernel.Layout layout, DeviceMemory out) {
        launch(q, kCache, vCache, positions, blockTables, tiles, numTiles, numTokens, numSeqs, layout, Split.NONE, null, out);
    }

    /**
     * Enqueues the kernel for numTiles tiles (already in the tiles buffer, made with this kernel's rows per
     * tile) and, with more than one split, prefill_attention_reduce after it.
     *
     * @param q           (numTokens, numHeads, headDim) f32 after RoPE
     * @param kCache      (numPages · pageSize, numKvHeads, headDim) bf16, the new tokens' K/V already written
     * @param positions   (numTokens) int
     * @param blockTables (numSeqs, maxPagesPerSeq) int
     * @param tiles       (numTiles, TILE_INTS) int from {@link #tiles}
     * @param split       from {@link #split}, or {@link Split#NONE}
     * @param workspace   the split states; may be null with {@link Split#NONE}
     * @param out         (numTokens, numHeads, headDim) bf16; rows of tokens outside the tiles are left alone
     */
    public void launch(DeviceMemory q, DeviceMemory kCache, DeviceMemory vCache, DeviceMemory positions,
                       DeviceMemory blockTables, DeviceMemory tiles, int numTiles, int numTokens, int numSeqs,
                       PagedAttentionKernel.Layout layout, Split split, PrefillWorkspace workspace, DeviceMemory out) {
        if (numTiles <= 0) return;
        q.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 4, "prefill attention q");
        long cacheElements = (long) layout.numPages() * layout.pageSize() * layout.numKvHeads() * layout.headDim();
        kCache.requireElements(cacheElements, 2, "kCache");
        vCache.requireElements(cacheElements, 2, "vCache");
        positions.requireElements(numTokens, 4, "positions");
        blockTables.requireElements((long) numSeqs * layout.maxPagesPerSeq(), 4, "blockTables");
        tiles.requireElements((long) numTiles * TILE_INTS, 4, "prefill tiles");
        out.requireElements((long) numTokens * layout.numHeads() * layout.headDim(), 2, "prefill attention out");
        boolean splits = split.numSplits() > 1;
        if (splits) checkWorkspace(workspace, (long) numTiles * layout.numKvHeads() * split.numSplits() * rowsPerTile, layout);
        Variant variant = Variant.of(layout.headDim(), rowsPerTile, flavor);
        // scores go to exp2 directly: 1/sqrt(d) and log2(e) in one factor
        float scaleLog2 = (float) (1.0 / Math.sqrt(layout.headDim()) / Math.log(2.0));
        boolean headsFirst = headsFastest && numTiles <= MAX_GRID_Y;  // gridDim.y caps the heads-first order
        Dim3 grid = headsFirst ? new Dim3(layout.numKvHeads(), numTiles, split.numSplits())
                : new Dim3(numTiles, layout.numKvHeads(), split.numSplits());
        device.launch(variant.name(), grid, Dim3.of(variant.threads()), variant.sharedBytes(),
                new KernelArgs().ptr(q).ptr(kCache).ptr(vCache).ptr(positions).ptr(blockTables).ptr(tiles)
                        .i32(layout.maxPagesPerSeq()).i32(layout.pageSize()).i32(layout.numHeads())
                        .i32(layout.numKvHeads()).f32(scaleLog2).i32(split.splitTiles()).i32(headsFirst ? 1 : 0).ptr(out)
                        .ptr(splits ? workspace.partMax().address() : 0).ptr(splits ? workspace.partSum().address() : 0)
                        .ptr(splits ? workspace.partAcc().address() : 0));
        if (!splits) return;
        device.launch("prefill_attention_reduce", new Dim3(numTiles, layout.numKvHeads(), rowsPerTile),
                Dim3.of((layout.headDim() + 31) / 32 * 32), 0,
                new KernelArgs().ptr(workspace.partMax()).ptr(workspace.partSum()).ptr(workspace.partAcc())
                        .ptr(positions).ptr(tiles).i32(layout.numHeads()).i32(layout.numKvHeads()).i32(layout.headDim())
                        .i32(rowsPerTile).i32(split.numSplits()).i32(split.splitTiles() * variant.keysPerTile()).ptr(out));
    }

    private static void checkWorkspace(PrefillWorkspace workspace, long states, PagedAttentionKernel.Layout layout) {
        if (workspace == null) throw new IllegalArgumentException("a split prefill launch needs a workspace");
        if (workspace.headDim() != layout.headDim() || states > workspace.maxStates()) {
            throw new IllegalArgumentException("prefill workspace of " + workspace.maxStates() + " states × head_dim "
                    + workspace.headDim() + " too small for " + states + " × " + layout.headDim());
        }
    }
}
