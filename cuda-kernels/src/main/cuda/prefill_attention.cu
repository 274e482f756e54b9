#include "common.cuh"

// Causal prefill attention, FlashAttention-2 style, over the paged KV cache. Where paged_attention
// makes every query token read all of its keys, here one CTA takes a tile of query tokens of one
// sequence and one KV head (all query heads of its GQA group) and streams the sequence's key/value
// pages through shared memory once for the whole tile: S = Q·Kᵀ and O += P·V on the tensor cores
// (mma.sync m16n8k16, bf16 in, float32 accumulate), online softmax in float32 registers.
//
// The CTA's ROWS = WARPS · MT · 16 rows are (token, head) pairs, token-major: row r is query token
// tile.firstToken + r / group, head kvHead * group + r % group; rows past tile.numTokens * group are
// padding (computed on zeros, never stored). Warp w owns rows [16 MT w, 16 MT (w + 1)) as MT m-tiles
// of 16: with MT = 2 every K/V fragment a warp loads from shared memory feeds two MMAs, which halves
// the shared-memory traffic per FLOP (the limit of the 16-row warp at head_dim 128).
// A query at absolute position p sees keys [0, p] (the cached prefix plus the new tokens up to itself;
// rope_qk_norm_kv_write has already put the new tokens' K/V into their pages). Key tiles start at
// absolute position 0 whatever the query tile, and a key tile a row cannot see leaves that row's state
// bit for bit unchanged, so a row's output does not depend on which tile (or chunk) it came in.
//
// K/V tiles are multi-buffered: while the warps compute on key tile kt, cp.async brings tiles up to
// kt + STAGES - 1 into the other stages. Dynamic shared memory: K as (STAGES, KEYS, HD + 8) bf16, then V
// the same, then with Q_SMEM Q as (ROWS, HD + 8) bf16.
//
// Split over keys (flash-decoding style, for a few query tiles over a long cached prefix): grid z is
// the number of splits; split z takes key tiles [z · splitTiles, (z + 1) · splitTiles) (the last split
// everything after) and, with more than one split, writes its unnormalised softmax state per row to
// partMax/partSum/partAcc instead of out; prefill_attention_reduce merges them. A CTA whose split
// starts past its tile's keys does nothing; the reduce reads, for a row at position p, only the splits
// that start at or before p, all of which hold at least that row's key at the split's start.
//
// q          (numTokens, numHeads, HD) float32, after RoPE (rounded to bf16 for the tensor cores)
// kCache, vCache (numSlots, numKvHeads, HD) bf16 of this layer
// positions  (numTokens); ascending within a tile, so its first token sees the fewest keys and its last
//            the most (ForwardBatch: a sequence's new tokens are its last positions, in order)
// blockTables (numSeqs, maxPagesPerSeq)
// tiles      (numTiles, 4) int: seq, firstToken (row of q/out), numTokens (<= ROWS / group), unused
// out        (numTokens, numHeads, HD) bf16; only the rows of tokens named by tiles are written (one split)
// partMax, partSum (numTiles, numKvHeads, numSplits, ROWS) f32, max in log2 units; unused with one split
// partAcc    (numTiles, numKvHeads, numSplits, ROWS, HD) f32, unnormalised
// grid (numTiles, numKvHeads, numSplits), or with headsFastest (numKvHeads, numTiles, numSplits); block WARPS * 32. HD: 32, 48, 64, 96 or 128; any pageSize >= 1.

extern __shared__ __align__(16) unsigned char prefillSmem[];

// 2^x in one MUFU instruction (exp2f without fast math adds a denormal range fix-up around it); -inf gives +0.
__device__ __forceinline__ float fastExp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// The cache slot of key (its page from the table, its offset in the page), or -1 for a key at or past numKeys.
// pageShift: log2(pageSize) when it is a power of two, else -1.
__device__ __forceinline__ int keySlotOrNone(const int* __restrict__ table, int pageSize, int pageShift, int key,
                                             int numKeys) {
    int page = pageShift >= 0 ? key >> pageShift : key / pageSize;
    return key < numKeys ? table[page] * pageSize + (key - page * pageSize) : -1;
}

// Starts copying keys [keyStart, keyStart + KEYS) of one KV head into kTile and vTile (KEYS, HD + 8);
// keys at or past numKeys become zeros (a masked key's V must be 0, not stale NaN, since P·V sums it).
// pageShift: log2(pageSize) when it is a power of two (a shift instead of an integer division per row), else -1.
// BATCHED_LOOKUPS: first read the page slots of all of this thread's pieces (independent loads, one latency),
// then issue the copies; else one loop in which every copy waits on its own table[page] read (about
// KEYS · HD / 8 / THREADS dependent reads per tile). Same bytes land either way.
template <int HD, int KEYS, int THREADS, bool BATCHED_LOOKUPS>
__device__ __forceinline__ void loadKvTile(bf16* kTile, bf16* vTile, const bf16* __restrict__ kCache,
                                           const bf16* __restrict__ vCache, const int* __restrict__ table,
                                           int pageSize, int pageShift, int numKvHeads, int kvHead, int keyStart,
                                           int numKeys) {
    constexpr int CHUNKS = HD / 8;  // 16-byte pieces of one key row
    if constexpr (BATCHED_LOOKUPS && KEYS * CHUNKS % THREADS == 0) {
        constexpr int PIECES = KEYS * CHUNKS / THREADS;  // per thread: 8 at head_dim 128 with 64 keys
        // Slots as int: a cache of 2^31 slots would take over 128 GB per K or V even at head_dim 32.
        int slot[PIECES];  // -1: key at or past numKeys, copy zeros
#pragma unroll
        for (int i = 0; i < PIECES; i++) {
            slot[i] = keySlotOrNone(table, pageSize, pageShift, keyStart + (threadIdx.x + i * THREADS) / CHUNKS, numKeys);
        }
#pragma unroll
        for (int i = 0; i < PIECES; i++) {
            int c = threadIdx.x + i * THREADS;
            int row = c / CHUNKS;
            int col = (c % CHUNKS) * 8;
            long offset = slot[i] >= 0 ? ((long)slot[i] * numKvHeads + kvHead) * HD + col : 0;  // any valid address for zeros
            int bytes = slot[i] >= 0 ? 16 : 0;
            copyAsync16(kTile + row * (HD + 8) + col, kCache + offset, bytes);
            copyAsync16(vTile + row * (HD + 8) + col, vCache + offset, bytes);
        }
    } else {
#pragma unroll 1  // unrolled, the addresses of every piece stay live across the MMAs and spill at head_dim 128
        for (int c = threadIdx.x; c < KEYS * CHUNKS; c += THREADS) {
            int row = c / CHUNKS;
            int col = (c % CHUNKS) * 8;
            int key = keyStart + row;
            long offset = 0;  // any valid address when zero-filling
            if (key < numKeys) {
                int page = pageShift >= 0 ? key >> pageShift : key / pageSize;
                long slot = (long)table[page] * pageSize + (key - page * pageSize);
                offset = (slot * numKvHeads + kvHead) * HD + col;
            }
            int bytes = key < numKeys ? 16 : 0;
            copyAsync16(kTile + row * (HD + 8) + col, kCache + offset, bytes);
            copyAsync16(vTile + row * (HD + 8) + col, vCache + offset, bytes);
        }
    }
}

// The online softmax of one m-tile's scores s (raw q·k) over one key tile, as attendKeyTile's legacy
// code computes it in fewer instructions: the scale folds into the FFMA before each exp2 (the max is found
// on raw scores: scaleLog2 > 0 keeps the order), the mask runs only on tiles near the diagonal, exp2 is one
// MUFU op, and the 4 · DFRAGS rescaling multiplications are skipped when no row of the warp moved its max
// (the common case after a row's first key tiles; a skipped multiplication would have been by exactly 1).
template <int SFRAGS, int DFRAGS>
__device__ __forceinline__ void onlineSoftmaxFast(float (&s)[SFRAGS][4], float (&acc)[DFRAGS][4], float (&runMax)[2],
                                                  float (&runSum)[2], const int (&rowPos)[2], int keyStart,
                                                  bool needsMask, float scaleLog2) {
    const int quadCol = (threadIdx.x & 3) * 2;
    if (needsMask) {
#pragma unroll
        for (int f = 0; f < SFRAGS; f++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                if (keyStart + f * 8 + quadCol + (i & 1) > rowPos[i >> 1]) s[f][i] = -CUDART_INF_F;
            }
        }
    }
    float correction[2];
#pragma unroll
    for (int half = 0; half < 2; half++) {
        float tileMax = -CUDART_INF_F;
#pragma unroll
        for (int f = 0; f < SFRAGS; f++) tileMax = fmaxf(tileMax, fmaxf(s[f][half * 2], s[f][half * 2 + 1]));
        tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 1));
        tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 2));
        float newMax = fmaxf(runMax[half], tileMax * scaleLog2);  // log2 units
        float base = newMax == -CUDART_INF_F ? 0.0f : newMax;      // a row that has seen no key yet stays at 0
        correction[half] = fastExp2(runMax[half] - base);           // 0 on the first keys, 1 if the max holds
        float tileSum = 0.0f;
#pragma unroll
        for (int f = 0; f < SFRAGS; f++) {
            s[f][half * 2] = fastExp2(fmaf(s[f][half * 2], scaleLog2, -base));
            s[f][half * 2 + 1] = fastExp2(fmaf(s[f][half * 2 + 1], scaleLog2, -base));
            tileSum += s[f][half * 2] + s[f][half * 2 + 1];
        }
        tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 1);
        tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 2);
        runSum[half] = runSum[half] * correction[half] + tileSum;
        runMax[half] = newMax;
    }
    if (__any_sync(0xffffffffu, correction[0] != 1.0f || correction[1] != 1.0f)) {
#pragma unroll
        for (int f = 0; f < DFRAGS; f++) {
            acc[f][0] *= correction[0];
            acc[f][1] *= correction[0];
            acc[f][2] *= correction[1];
            acc[f][3] *= correction[1];
        }
    }
}

// One key tile of the online softmax for a warp's MT m-tiles: S = Q·Kᵀ, mask, rescale, O += P·V.
// rowPos[m][half]: the position of the warp's row quadRow + 8 half of m-tile m (-1: padding).
// FAST: false the softmax below; true onlineSoftmaxFast's (same math, fewer instructions, not bit for bit the same).
// Q_SMEM: the A fragments of Q come from qTile (ROWS, HD + 8) by ldmatrix at every k-step (registers are
// short for two m-tiles at head_dim 128); else from qFrag, loaded once.
template <int HD, int MT, int KEYS, bool Q_SMEM, int QREGS, bool FAST>
__device__ __forceinline__ void attendKeyTile(const bf16* kTile, const bf16* vTile, const bf16* qTile,
                                              const uint32_t (&qFrag)[QREGS][HD / 16][4], float (&acc)[MT][HD / 8][4],
                                              float (&runMax)[MT][2], float (&runSum)[MT][2],
                                              const int (&rowPos)[MT][2], int keyStart, bool needsMask,
                                              float scaleLog2) {
    constexpr int STRIDE = HD + 8;  // +8: rows 16 bytes apart in banks, no ldmatrix conflicts
    constexpr int KSTEPS = HD / 16;
    constexpr int DFRAGS = HD / 8;
    constexpr int SFRAGS = KEYS / 8;
    constexpr int PSTEPS = KEYS / 16;
    const int lane = threadIdx.x & 31;
    const int quadCol = (lane & 3) * 2;

    float s[MT][SFRAGS][4];
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
        for (int f = 0; f < SFRAGS; f++) s[m][f][0] = s[m][f][1] = s[m][f][2] = s[m][f][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int m = 0; m < MT; m++) {
            if constexpr (Q_SMEM) {
                // matrices: rows 0-7 / 8-15 of the m-tile at dims 16kk.., then the same rows at 16kk + 8..
                ldmatrixX4(a[m], qTile + (m * 16 + (lane & 15)) * STRIDE + kk * 16 + (lane >> 4) * 8);
            } else {
#pragma unroll
                for (int i = 0; i < 4; i++) a[m][i] = qFrag[m][kk][i];
            }
        }
#pragma unroll
        for (int f = 0; f < SFRAGS; f += 2) {
            // matrices: keys 8f.. dims 16kk / 16kk+8, then keys 8(f+1).. at the same dims
            uint32_t b[4];
            int key = f * 8 + (lane & 7) + ((lane >> 4) << 3);
            int dim = kk * 16 + ((lane >> 3) & 1) * 8;
            ldmatrixX4(b, kTile + key * STRIDE + dim);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                mmaBf16(s[m][f], a[m], b[0], b[1]);
                mmaBf16(s[m][f + 1], a[m], b[2], b[3]);
            }
        }
    }

    uint32_t pFrag[MT][PSTEPS][4];
#pragma unroll
    for (int m = 0; m < MT; m++) {
        if constexpr (FAST) {
            onlineSoftmaxFast<SFRAGS, DFRAGS>(s[m], acc[m], runMax[m], runSum[m], rowPos[m], keyStart, needsMask, scaleLog2);
        } else {
            // Scale into log2 units and mask keys past each row's position (only the tiles near the diagonal).
#pragma unroll
            for (int f = 0; f < SFRAGS; f++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    int key = keyStart + f * 8 + quadCol + (i & 1);
                    float x = s[m][f][i] * scaleLog2;
                    s[m][f][i] = needsMask && key > rowPos[m][i >> 1] ? -CUDART_INF_F : x;
                }
            }
            // Online softmax per row: the quad (4 lanes) holding a row reduces its max and sum together.
#pragma unroll
            for (int half = 0; half < 2; half++) {
                float tileMax = -CUDART_INF_F;
#pragma unroll
                for (int f = 0; f < SFRAGS; f++) tileMax = fmaxf(tileMax, fmaxf(s[m][f][half * 2], s[m][f][half * 2 + 1]));
                tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 1));
                tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 2));
                float newMax = fmaxf(runMax[m][half], tileMax);
                float base = newMax == -CUDART_INF_F ? 0.0f : newMax;  // a row that has seen no key yet stays at 0
                float correction = exp2f(runMax[m][half] - base);       // 0 on the first keys, 1 if the max holds
                float tileSum = 0.0f;
#pragma unroll
                for (int f = 0; f < SFRAGS; f++) {
                    s[m][f][half * 2] = exp2f(s[m][f][half * 2] - base);
                    s[m][f][half * 2 + 1] = exp2f(s[m][f][half * 2 + 1] - base);
                    tileSum += s[m][f][half * 2] + s[m][f][half * 2 + 1];
                }
                tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 1);
                tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 2);
                runSum[m][half] = runSum[m][half] * correction + tileSum;
                runMax[m][half] = newMax;
#pragma unroll
                for (int f = 0; f < DFRAGS; f++) {
                    acc[m][f][half * 2] *= correction;
                    acc[m][f][half * 2 + 1] *= correction;
                }
            }
        }
        // The S accumulators of keys [16j, 16j + 16) are the A fragment of P for k-step j.
#pragma unroll
        for (int j = 0; j < PSTEPS; j++) {
            pFrag[m][j][0] = packBf16(s[m][2 * j][0], s[m][2 * j][1]);
            pFrag[m][j][1] = packBf16(s[m][2 * j][2], s[m][2 * j][3]);
            pFrag[m][j][2] = packBf16(s[m][2 * j + 1][0], s[m][2 * j + 1][1]);
            pFrag[m][j][3] = packBf16(s[m][2 * j + 1][2], s[m][2 * j + 1][3]);
        }
    }

#pragma unroll
    for (int j = 0; j < PSTEPS; j++) {
#pragma unroll
        for (int f = 0; f < DFRAGS; f += 2) {
            // transposed matrices: keys 16j.. / 16j+8.. at dims 8f.., then the same keys at dims 8(f+1)..
            uint32_t b[4];
            int key = j * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
            int dim = f * 8 + (lane >> 4) * 8;
            ldmatrixX4Trans(b, vTile + key * STRIDE + dim);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                mmaBf16(acc[m][f], pFrag[m][j], b[0], b[1]);
                mmaBf16(acc[m][f + 1], pFrag[m][j], b[2], b[3]);
            }
        }
    }
}

// Which tile, KV head and split a prefill CTA takes, and the key tiles [beginTile, endTile) of keysPerTile keys it
// attends: split z takes [z · splitTiles, (z + 1) · splitTiles), the last split everything after; empty (beginTile >=
// endTile) when the split lies past the tile's last key. headsFastest: grid (numKvHeads, numTiles, numSplits), so the
// hardware, which starts CTAs in x-fastest order, starts every KV head of the heaviest tile (tiles come heaviest
// first) before any lighter tile: longest-first over the whole launch, and the last wave holds only the lightest tiles.
struct PrefillCta {
    int tile, seq, firstToken, tileTokens, kvHead, split, numSplits;
    int firstPos;   // position of the tile's first token
    int numKeys;    // keys the tile's last token sees
    int beginTile, endTile;
};

__device__ __forceinline__ PrefillCta prefillCta(const int* __restrict__ tiles, const int* __restrict__ positions,
                                                 int headsFastest, int splitTiles, int keysPerTile) {
    PrefillCta c;
    c.tile = headsFastest ? blockIdx.y : blockIdx.x;
    c.seq = tiles[c.tile * 4];
    c.firstToken = tiles[c.tile * 4 + 1];
    c.tileTokens = tiles[c.tile * 4 + 2];
    c.kvHead = headsFastest ? blockIdx.x : blockIdx.y;
    c.split = blockIdx.z;
    c.numSplits = gridDim.z;
    c.firstPos = positions[c.firstToken];
    c.numKeys = positions[c.firstToken + c.tileTokens - 1] + 1;
    const int numKeyTiles = (c.numKeys + keysPerTile - 1) / keysPerTile;
    c.beginTile = c.split * splitTiles;
    c.endTile = c.split + 1 == c.numSplits ? numKeyTiles : min(numKeyTiles, c.beginTile + splitTiles);
    return c;
}

// Element offset of tile row r's (token, head) in q and out, (numTokens, numHeads, HD).
template <int HD>
__device__ __forceinline__ long prefillRowOffset(const PrefillCta& c, int r, int numHeads, int group) {
    return ((long)(c.firstToken + r / group) * numHeads + c.kvHead * group + r % group) * HD;
}

// The end of tile row r in this thread (its quad holds the row's full max and sum; acc its two columns of each 8-dim
// fragment, half 0: acc[f][0..1], half 1: acc[f][2..3]). One split: acc / sum as bf16 pairs into out. Several:
// the row's unnormalised state into the split's slot (prefill_attention_reduce merges them); a row that saw no key of
// this split leaves max -inf, sum 0, acc 0: weight 0 in the merge.
template <int HD, int ROWS>
__device__ __forceinline__ void storePrefillRow(const float (&acc)[HD / 8][4], int half, float runMax, float runSum,
                                                int r, const PrefillCta& c, int numHeads, int numKvHeads,
                                                bf16* __restrict__ out, float* __restrict__ partMax,
                                                float* __restrict__ partSum, float* __restrict__ partAcc) {
    const int quadCol = (threadIdx.x & 3) * 2;
    if (c.numSplits == 1) {
        float inv = 1.0f / runSum;  // > 0: a row always sees at least its own key
        bf16* row = out + prefillRowOffset<HD>(c, r, numHeads, numHeads / numKvHeads);
#pragma unroll
        for (int f = 0; f < HD / 8; f++) {
            *reinterpret_cast<uint32_t*>(row + f * 8 + quadCol) = packBf16(acc[f][half * 2] * inv, acc[f][half * 2 + 1] * inv);
        }
        return;
    }
    long state = ((long)(c.tile * numKvHeads + c.kvHead) * c.numSplits + c.split) * ROWS + r;
    if ((threadIdx.x & 3) == 0) {
        partMax[state] = runMax;
        partSum[state] = runSum;
    }
    float* row = partAcc + state * HD;
#pragma unroll
    for (int f = 0; f < HD / 8; f++) {
        *reinterpret_cast<float2*>(row + f * 8 + quadCol) = make_float2(acc[f][half * 2], acc[f][half * 2 + 1]);
    }
}

// STEP_KEYS: keys per attendKeyTile call; KEYS (the shared-memory tile) or KEYS / 2, which computes each tile as
// two halves: the barriers and cp.async waits of KEYS-key tiles with the S/P registers of STEP_KEYS keys. Every
// entry now passes KEYS (the half-tile flavours were measured and removed); the loop stays as it was, since the
// same code without it compiles to different machine code for the kernels that remain.
// FAST: see attendKeyTile; BATCHED_LOOKUPS: see loadKvTile.
template <int HD, int WARPS, int MT, int KEYS, bool Q_SMEM, bool FAST, int STAGES, int STEP_KEYS, bool BATCHED_LOOKUPS>
__device__ __forceinline__ void prefillAttention(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ blockTables, const int* __restrict__ tiles,
        int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, float scaleLog2, int splitTiles,
        int headsFastest, bf16* __restrict__ out, float* __restrict__ partMax, float* __restrict__ partSum, float* __restrict__ partAcc) {
    constexpr int ROWS = WARPS * MT * 16;
    constexpr int STAGE = KEYS * (HD + 8);  // elements of one K (or V) tile in shared memory
    constexpr int KSTEPS = HD / 16;
    constexpr int DFRAGS = HD / 8;
    constexpr int QREGS = Q_SMEM ? 1 : MT;  // m-tiles of Q held in registers
    static_assert(STAGES >= 2, "the loads of the next key tile need a stage of their own");
    static_assert(KEYS % STEP_KEYS == 0 && STEP_KEYS % 16 == 0, "a key tile is whole 16-key steps of P·V");
    // (STAGES, KEYS, HD + 8) of K, then the same of V, then with Q_SMEM Q as (ROWS, HD + 8)
    bf16* smem = reinterpret_cast<bf16*>(prefillSmem);
    bf16* qTile = smem + 2 * STAGES * STAGE;

    const PrefillCta c = prefillCta(tiles, positions, headsFastest, splitTiles, KEYS);
    if (c.beginTile >= c.endTile) return;  // the whole CTA: this split lies past the tile's last key
    const int group = numHeads / numKvHeads;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int quadRow = lane >> 2;       // row within the 8-row half of an mma fragment
    const int quadCol = (lane & 3) * 2;  // first of the two columns a thread holds
    const int* table = blockTables + (long)c.seq * maxPagesPerSeq;
    const int pageShift = (pageSize & (pageSize - 1)) == 0 ? __ffs(pageSize) - 1 : -1;

    // This thread's rows (quadRow and quadRow + 8 of each of the warp's m-tiles) and their causal limits.
    int rowPos[MT][2];
    int warpMaxPos = -1;
#pragma unroll
    for (int m = 0; m < MT; m++) {
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int t = ((warp * MT + m) * 16 + quadRow + half * 8) / group;
            rowPos[m][half] = t < c.tileTokens ? positions[c.firstToken + t] : -1;
            warpMaxPos = max(warpMaxPos, rowPos[m][half]);
        }
    }
#pragma unroll
    for (int offset = 4; offset < 32; offset <<= 1) warpMaxPos = max(warpMaxPos, __shfl_xor_sync(0xffffffffu, warpMaxPos, offset));
    auto rowOffset = [&](int r) { return prefillRowOffset<HD>(c, r, numHeads, group); };

    // Q as bf16: the mma A fragments straight from global float32 (read once per CTA), or with Q_SMEM into
    // qTile, which the first __syncthreads of the key loop publishes.
    uint32_t qFrag[QREGS][KSTEPS][4];  // unused (and optimised away) with Q_SMEM
    if constexpr (Q_SMEM) {
        for (int e = threadIdx.x; e < ROWS * HD / 2; e += WARPS * 32) {
            int r = e / (HD / 2);
            int d = (e % (HD / 2)) * 2;
            float2 v = r / group < c.tileTokens ? *reinterpret_cast<const float2*>(q + rowOffset(r) + d)
                                              : make_float2(0.0f, 0.0f);
            *reinterpret_cast<uint32_t*>(qTile + r * (HD + 8) + d) = packBf16(v.x, v.y);
        }
    } else {
#pragma unroll
        for (int m = 0; m < MT; m++) {
#pragma unroll
            for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    int half = i & 1;  // a0, a2: row quadRow; a1, a3: row quadRow + 8
                    int d = kk * 16 + quadCol + (i >> 1) * 8;
                    float2 v = rowPos[m][half] >= 0
                            ? *reinterpret_cast<const float2*>(q + rowOffset((warp * MT + m) * 16 + quadRow + half * 8) + d)
                            : make_float2(0.0f, 0.0f);
                    qFrag[m][kk][i] = packBf16(v.x, v.y);
                }
            }
        }
    }

    float acc[MT][DFRAGS][4];
    float runMax[MT][2];  // in log2 units (scores · scale · log2 e)
    float runSum[MT][2];
#pragma unroll
    for (int m = 0; m < MT; m++) {
#pragma unroll
        for (int f = 0; f < DFRAGS; f++) acc[m][f][0] = acc[m][f][1] = acc[m][f][2] = acc[m][f][3] = 0.0f;
        runMax[m][0] = runMax[m][1] = -CUDART_INF_F;
        runSum[m][0] = runSum[m][1] = 0.0f;
    }

    // Prologue: the first STAGES - 1 key tiles in flight, one commit group each (empty past the end, so
    // that the wait below always counts the same number of groups).
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) {
        if (c.beginTile + i < c.endTile) {
            loadKvTile<HD, KEYS, WARPS * 32, BATCHED_LOOKUPS>(smem + i * STAGE, smem + (STAGES + i) * STAGE, kCache, vCache, table,
                                             pageSize, pageShift, numKvHeads, c.kvHead, (c.beginTile + i) * KEYS, c.numKeys);
        }
        copyAsyncCommit();
    }
    int stage = 0;  // (kt - beginTile) % STAGES
    for (int kt = c.beginTile; kt < c.endTile; kt++) {
        copyAsyncWait<STAGES - 2>();  // tile kt has landed: only the groups of the STAGES - 2 tiles after it may be in flight
        __syncthreads();              // ... for every thread's copies; and every warp is done with tile kt - 1's stage
        const int loadStage = stage == 0 ? STAGES - 1 : stage - 1;  // tile kt - 1's, now free, takes tile kt + STAGES - 1
        if (kt + STAGES - 1 < c.endTile) {
            loadKvTile<HD, KEYS, WARPS * 32, BATCHED_LOOKUPS>(smem + loadStage * STAGE, smem + (STAGES + loadStage) * STAGE, kCache,
                                             vCache, table, pageSize, pageShift, numKvHeads, c.kvHead,
                                             (kt + STAGES - 1) * KEYS, c.numKeys);
        }
        copyAsyncCommit();
        const int computeStage = stage;
        stage = stage + 1 == STAGES ? 0 : stage + 1;
        const bf16* kTile = smem + computeStage * STAGE;
        const bf16* vTile = smem + (STAGES + computeStage) * STAGE;
        // STEP_KEYS-key steps in order from key 0: a row gets the bits of STEP_KEYS-key tiles, whatever KEYS.
#pragma unroll
        for (int step = 0; step < KEYS / STEP_KEYS; step++) {
            const int keyStart = kt * KEYS + step * STEP_KEYS;
            if (keyStart > warpMaxPos) break;  // no row of this warp sees these keys (nor later ones): state left alone, exact
            attendKeyTile<HD, MT, STEP_KEYS, Q_SMEM, QREGS, FAST>(kTile + step * STEP_KEYS * (HD + 8),
                                                                vTile + step * STEP_KEYS * (HD + 8),
                                                                qTile + warp * MT * 16 * (HD + 8), qFrag, acc, runMax,
                                                                runSum, rowPos, keyStart,
                                                                keyStart + STEP_KEYS - 1 > c.firstPos, scaleLog2);
        }
    }

#pragma unroll
    for (int m = 0; m < MT; m++) {
#pragma unroll
        for (int half = 0; half < 2; half++) {
            if (rowPos[m][half] < 0) continue;
            storePrefillRow<HD, ROWS>(acc[m], half, runMax[m][half], runSum[m][half], (warp * MT + m) * 16 + quadRow + half * 8,
                                      c, numHeads, numKvHeads, out, partMax, partSum, partAcc);
        }
    }
}

// Merges the split states of prefill_attention_* into out (numTokens, numHeads, headDim) bf16. Row r of a
// tile at position p reads splits [0, min(numSplits, p / splitKeys + 1)): those that start at or before p.
// grid (numTiles, numKvHeads, rowsPerTile), block headDim rounded up to a warp: each block merges one row of one tile
// and KV head, each thread one dim. (Blocks of 16 rows, each thread 16 of their dims one after the other, waited on
// two round trips to L2 per dim: 29 µs a layer for the 8B shape's prefix hit, where the attention took 43.)
extern "C" __global__ void prefill_attention_reduce(
        const float* __restrict__ partMax, const float* __restrict__ partSum, const float* __restrict__ partAcc,
        const int* __restrict__ positions, const int* __restrict__ tiles, int numHeads, int numKvHeads, int headDim,
        int rowsPerTile, int numSplits, int splitKeys, bf16* __restrict__ out) {
    const int tile = blockIdx.x;
    const int kvHead = blockIdx.y;
    const int firstToken = tiles[tile * 4 + 1];
    const int tileTokens = tiles[tile * 4 + 2];
    const int group = numHeads / numKvHeads;
    const int r = blockIdx.z;
    const int d = threadIdx.x;
    if (r >= tileTokens * group || d >= headDim) return;
    const long stateBase = (long)(tile * numKvHeads + kvHead) * numSplits * rowsPerTile;
    int token = firstToken + r / group;
    int n = min(numSplits, positions[token] / splitKeys + 1);
    float m = -CUDART_INF_F;
#pragma unroll 4
    for (int s = 0; s < n; s++) m = fmaxf(m, partMax[stateBase + (long)s * rowsPerTile + r]);
    float sum = 0.0f, value = 0.0f;
#pragma unroll 4
    for (int s = 0; s < n; s++) {
        long state = stateBase + (long)s * rowsPerTile + r;
        float c = exp2f(partMax[state] - m);  // max in log2 units; split 0 always holds key 0, so m is finite
        sum += partSum[state] * c;
        value += partAcc[state * headDim + d] * c;
    }
    out[((long)token * numHeads + kvHead * group + r % group) * headDim + d] = toBf16(value / sum);
}

// Entry points: prefill_attention_hd{HD} (the big tile, the reference and A/B baseline), prefill_attention_small_hd{HD}
// (64 rows, one m-tile per warp, as before the big tile; for A/B runs with -Dradixlm.prefillRows=64), and the
// big tile with onlineSoftmaxFast, the default: prefill_attention_fast64b_hd128 (64-key tiles, the page-slot lookups
// of a tile's copies batched) and prefill_attention_fast_hd{HD} at the other head dims. Eight other flavours were
// measured on the H200 and removed (BENCHMARKS.md). PrefillAttentionKernel.Variant mirrors KEYS and Q_SMEM (and
// ROWS = WARPS · MT · 16). FAST: the softmax, as in attendKeyTile (false legacy, true fast).
#define PREFILL_ATTENTION_ENTRY(NAME, HD, WARPS, MT, KEYS, Q_SMEM, FAST, STAGES, STEP_KEYS, LOOKUPS, MIN_BLOCKS)  \
    extern "C" __global__ void __launch_bounds__(WARPS * 32, MIN_BLOCKS) NAME(                                     \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* blockTables,  \
            const int* tiles, int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, float scaleLog2,    \
            int splitTiles, int headsFastest, bf16* out, float* partMax, float* partSum, float* partAcc) {        \
        prefillAttention<HD, WARPS, MT, KEYS, Q_SMEM, FAST, STAGES, STEP_KEYS, LOOKUPS>(q, kCache, vCache,         \
                                              positions, blockTables,                                              \
                                              tiles, maxPagesPerSeq, pageSize, numHeads, numKvHeads, scaleLog2,    \
                                              splitTiles, headsFastest, out, partMax, partSum, partAcc);           \
    }

// The big tiles: 128 rows as 4 warps × two m-tiles; Q through shared memory where registers run short
// (head_dim 96, 128: 250 registers, no spills, two CTAs per SM), 32-key tiles at head_dim 128 for the same reason.
PREFILL_ATTENTION_ENTRY(prefill_attention_hd32, 32, 4, 2, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_hd48, 48, 4, 2, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_hd64, 64, 4, 2, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_hd96, 96, 4, 2, 64, true, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_hd128, 128, 4, 2, 32, true, false, 2, 32, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_fast_hd32, 32, 4, 2, 64, false, true, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_fast_hd48, 48, 4, 2, 64, false, true, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_fast_hd64, 64, 4, 2, 64, false, true, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_fast_hd96, 96, 4, 2, 64, true, true, 2, 64, false, 2)
// 64-key tiles at head_dim 128 (as FlashAttention-2 on sm90): half the barriers and cp.async waits per FLOP, at
// the price of a few spilled registers (ptxas: 72 bytes of spill stores at 255 registers), with the page-slot
// lookups of a tile's copies issued together.
PREFILL_ATTENTION_ENTRY(prefill_attention_fast64b_hd128, 128, 4, 2, 64, true, true, 2, 64, true, 2)
// The small tiles: 64 rows, 4 warps × one m-tile, Q in registers, 64-key tiles.
PREFILL_ATTENTION_ENTRY(prefill_attention_small_hd32, 32, 4, 1, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_small_hd48, 48, 4, 1, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_small_hd64, 64, 4, 1, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_small_hd96, 96, 4, 1, 64, false, false, 2, 64, false, 2)
PREFILL_ATTENTION_ENTRY(prefill_attention_small_hd128, 128, 4, 1, 64, false, false, 2, 64, false, 2)

// ---------------------------------------------------------------------------------------------------
// prefill_attention_wgmma_hd128 (Hopper, sm_90a): the same tiles, rows, key tiles from absolute position 0,
// split states and output as prefill_attention_fast64b_hd128, on the warpgroup MMA (wgmma.mma_async) instead of
// mma.sync. The CTA is two warpgroups (8 warps), warpgroup g owning rows [64g, 64g + 64) of the tile's 128 (warp w:
// rows [16w, 16w + 16), as with one m-tile per warp); warpgroup 1 runs half a tile behind warpgroup 0, so that one's
// softmax overlaps the other's MMAs (LAG in prefillAttentionWgmma). Per 128-key tile, each warpgroup computes S = Q·Kᵀ as 16
// m64n64k16 MMAs (Q from registers, K from shared memory; one m64n128k16 over the 128 keys gave wrong scores on the
// H200, two n64 halves are right and as fast), the online softmax in registers (onlineSoftmaxFast, on the same
// fragment layout as mma.sync's), and O += P·V as 8 m64n128k16 MMAs (P from registers, V from shared memory read
// transposed by the MMA). K and V tiles are copied by cp.async into the 128-byte-swizzled layout the MMA reads: each
// tile as two halves of 64 dims, key row r's 16-byte chunk c at r·128 + ((c ^ (r mod 8))·16) within its half.
// Built for sm_90a only; elsewhere the kernel traps, and PrefillAttentionKernel selects it only on compute capability 9.0.
#define WG_ROWS 128
#define WG_THREADS 256
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RADIXLM_WGMMA 1
#endif

// The shared-memory matrix descriptor of a 128-byte-swizzled operand (layout type 1): start address, leading and
// stride byte offsets, all in 16-byte units.
__device__ __forceinline__ uint64_t swizzled128Desc(const bf16* start, uint32_t leadingBytes, uint32_t strideBytes) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(start);
    return (uint64_t)((address & 0x3FFFF) >> 4) | (uint64_t)((leadingBytes >> 4) & 0x3FFF) << 16
            | (uint64_t)((strideBytes >> 4) & 0x3FFF) << 32 | (uint64_t)1 << 62;
}

#ifdef RADIXLM_WGMMA
__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmmaWait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory"); }
// Keeps the compiler from moving reads or writes of accumulator registers across an MMA's issue or wait.
template <int N>
__device__ __forceinline__ void fenceOperands(float (&d)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3]) :: "memory");
}

// d (64 × 64 f32 accumulators, 32 per thread) = (accumulate ? d : 0) + A · B; A 64 × 16 bf16 from registers (the
// mma.sync A fragment of the warp's 16 rows), B 16 × 64 from shared memory, K-major (bDesc).
__device__ __forceinline__ void wgmmaM64N64(float (&d)[8][4], const uint32_t (&a)[4], uint64_t bDesc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20,"
        " %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "{%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]),
          "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
          "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]),
          "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
          "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]),
          "+f"(d[7][2]), "+f"(d[7][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(bDesc), "r"(accumulate));
}

// d (64 × 128 f32, 64 per thread) += A · B; A 64 × 16 bf16 from registers, B 16 × 128 from shared memory stored
// N-major (dims contiguous, as V's rows are), read transposed (imm-trans-b 1).
__device__ __forceinline__ void wgmmaM64N128Trans(float (&d)[16][4], const uint32_t (&a)[4], uint64_t bDesc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20,"
        " %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39,"
        " %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58,"
        " %59, %60, %61, %62, %63}, "
        "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]),
          "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
          "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]),
          "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
          "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]),
          "+f"(d[7][2]), "+f"(d[7][3]), "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),
          "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]), "+f"(d[10][0]), "+f"(d[10][1]),
          "+f"(d[10][2]), "+f"(d[10][3]), "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]),
          "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]), "+f"(d[13][0]), "+f"(d[13][1]),
          "+f"(d[13][2]), "+f"(d[13][3]), "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]),
          "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(bDesc), "r"(1));
}
#endif

// The page slots of this thread's KEYS · 16 / WG_THREADS of the 16-byte pieces of a K (or V) tile of keys
// [keyStart, keyStart + KEYS) (-1: key at or past numKeys, copy zeros). Looked up one tile ahead of
// issueSwizzledKvTile, so that the table reads' latency passes while the warps compute.
template <int KEYS, int PIECES = KEYS * 16 / WG_THREADS>
__device__ __forceinline__ void lookupKvSlots(int (&slot)[PIECES], const int* __restrict__ table, int pageSize,
                                              int pageShift, int keyStart, int numKeys) {
#pragma unroll
    for (int i = 0; i < PIECES; i++) {
        slot[i] = keySlotOrNone(table, pageSize, pageShift, keyStart + (threadIdx.x + i * WG_THREADS) / 16, numKeys);
    }
}

// Starts copying those pieces of K and V into the swizzled tiles: half chunk / 8 of a tile (KEYS rows of 64
// dims), row 128 bytes, the 16-byte chunk swizzled within the row.
template <int KEYS, int PIECES = KEYS * 16 / WG_THREADS>
__device__ __forceinline__ void issueSwizzledKvTile(bf16* kTile, bf16* vTile, const bf16* __restrict__ kCache,
                                                    const bf16* __restrict__ vCache, const int (&slot)[PIECES],
                                                    int numKvHeads, int kvHead) {
#pragma unroll
    for (int i = 0; i < PIECES; i++) {
        int c = threadIdx.x + i * WG_THREADS;
        int row = c / 16;
        int chunk = c % 16;
        long offset = slot[i] >= 0 ? ((long)slot[i] * numKvHeads + kvHead) * 128 + chunk * 8 : 0;
        int bytes = slot[i] >= 0 ? 16 : 0;
        int element = (chunk >> 3) * KEYS * 64 + row * 64 + (((chunk & 7) ^ (row & 7)) << 3);
        copyAsync16(kTile + element, kCache + offset, bytes);
        copyAsync16(vTile + element, vCache + offset, bytes);
    }
}

template <int KEYS, int STAGES, bool LAG>
__device__ __forceinline__ void prefillAttentionWgmma(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ blockTables, const int* __restrict__ tiles,
        int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, float scaleLog2, int splitTiles,
        int headsFastest, bf16* __restrict__ out, float* __restrict__ partMax, float* __restrict__ partSum,
        float* __restrict__ partAcc) {
#ifdef RADIXLM_WGMMA
    constexpr int HD = 128, KSTEPS = HD / 16, DFRAGS = HD / 8, SFRAGS = KEYS / 8, PSTEPS = KEYS / 16;
    constexpr int STAGE = KEYS * HD;            // elements of one K (or V) tile
    constexpr uint32_t HALF_BYTES = KEYS * 128;  // one 64-dim half of a tile
    // (STAGES) K tiles, then (STAGES) V tiles, from the first 1024-byte boundary (the swizzle's period)
    uint32_t base = (uint32_t)__cvta_generic_to_shared(prefillSmem);
    bf16* smem = reinterpret_cast<bf16*>(prefillSmem + ((1024 - (base & 1023)) & 1023));

    const PrefillCta c = prefillCta(tiles, positions, headsFastest, splitTiles, KEYS);
    if (c.beginTile >= c.endTile) return;
    const int group = numHeads / numKvHeads;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int quadRow = lane >> 2;
    const int quadCol = (lane & 3) * 2;
    const int* table = blockTables + (long)c.seq * maxPagesPerSeq;
    const int pageShift = (pageSize & (pageSize - 1)) == 0 ? __ffs(pageSize) - 1 : -1;

    // This thread's rows quadRow and quadRow + 8 of its warp's 16, and the last position any row of its
    // warpgroup holds (positions ascend within a tile): the warpgroup skips key tiles past it as a whole.
    int rowPos[1][2];
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int t = (warp * 16 + quadRow + half * 8) / group;
        rowPos[0][half] = t < c.tileTokens ? positions[c.firstToken + t] : -1;
    }
    const int groupFirstToken = (threadIdx.x >> 7) * 64 / group;
    const int groupLastToken = min(c.tileTokens - 1, ((threadIdx.x >> 7) * 64 + 63) / group);
    const int groupMaxPos = groupLastToken >= groupFirstToken ? positions[c.firstToken + groupLastToken] : -1;
    auto rowOffset = [&](int r) { return prefillRowOffset<HD>(c, r, numHeads, group); };

    uint32_t qFrag[KSTEPS][4];
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int half = i & 1;
            int d = kk * 16 + quadCol + (i >> 1) * 8;
            float2 v = rowPos[0][half] >= 0
                    ? *reinterpret_cast<const float2*>(q + rowOffset(warp * 16 + quadRow + half * 8) + d)
                    : make_float2(0.0f, 0.0f);
            qFrag[kk][i] = packBf16(v.x, v.y);
        }
    }

    float acc[DFRAGS][4];
    float runMax[2] = {-CUDART_INF_F, -CUDART_INF_F}, runSum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int f = 0; f < DFRAGS; f++) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.0f;

    int slot[KEYS * 16 / WG_THREADS];
    auto kTileOf = [&](int kt) { return smem + (kt - c.beginTile) % STAGES * STAGE; };
    auto vTileOf = [&](int kt) { return smem + (STAGES + (kt - c.beginTile) % STAGES) * STAGE; };
    // S = Q·Kᵀ of key tile kt into s, issued and committed (not waited for)
    auto issueScores = [&](float (&s)[SFRAGS][4], int kt) {
        const bf16* kTile = kTileOf(kt);
        fenceOperands(s);
        wgmmaFence();
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
            // K-major B: 8-key groups 1024 bytes apart; dims 16kk.. at 32 bytes per step within a half; 64 keys per MMA
            uint64_t kDesc = swizzled128Desc(kTile + (kk >> 2) * (HALF_BYTES / 2) + (kk & 3) * 16, 16, 1024);
#pragma unroll
            for (int n = 0; n < KEYS / 64; n++) {
                wgmmaM64N64(*reinterpret_cast<float(*)[8][4]>(&s[8 * n][0]), qFrag[kk], kDesc + n * (8192 >> 4), kk);
            }
        }
        wgmmaCommit();
    };
    // The online softmax of S (waited for) and O += P·V of key tile kt, issued and committed
    auto softmaxAndIssueValues = [&](float (&s)[SFRAGS][4], int kt) {
        fenceOperands(s);
        const int keyStart = kt * KEYS;
        onlineSoftmaxFast<SFRAGS, DFRAGS>(s, acc, runMax, runSum, rowPos[0], keyStart, keyStart + KEYS - 1 > c.firstPos,
                                          scaleLog2);
        uint32_t pFrag[PSTEPS][4];
#pragma unroll
        for (int j = 0; j < PSTEPS; j++) {
            pFrag[j][0] = packBf16(s[2 * j][0], s[2 * j][1]);
            pFrag[j][1] = packBf16(s[2 * j][2], s[2 * j][3]);
            pFrag[j][2] = packBf16(s[2 * j + 1][0], s[2 * j + 1][1]);
            pFrag[j][3] = packBf16(s[2 * j + 1][2], s[2 * j + 1][3]);
        }
        const bf16* vTile = vTileOf(kt);
        fenceOperands(acc);
        wgmmaFence();
#pragma unroll
        for (int j = 0; j < PSTEPS; j++) {
            // N-major B, read transposed: keys 16j.. (two 8-key groups, 1024 bytes apart), the dims' halves
            // HALF_BYTES apart
            wgmmaM64N128Trans(acc, pFrag[j], swizzled128Desc(vTile + j * 16 * 64, HALF_BYTES, 1024));
        }
        wgmmaCommit();
    };
    // key tiles [beginTile, groupEnd) hold keys some row of this warpgroup sees; it skips the rest (state left
    // alone, exact), but takes part in every barrier and copy
    const int groupEnd = groupMaxPos < 0 ? c.beginTile : min(c.endTile, groupMaxPos / KEYS + 1);
    // AHEAD: key tiles copied ahead of the one being computed. LAG (the two warpgroups out of step): warpgroup 1 runs
    // the softmax and P·V of tile kt - 1 after the barrier of tile kt, while warpgroup 0 computes S of tile kt, so that
    // one's softmax overlaps the other's MMAs; a stage is then read until the barrier after next, and the copies go one
    // tile ahead into the stage of tile kt - 2.
    constexpr int AHEAD = LAG ? STAGES - 2 : STAGES - 1;
    static_assert(AHEAD >= 1, "the copies of the next key tile need a stage of their own");
#pragma unroll
    for (int i = 0; i < AHEAD; i++) {
        if (c.beginTile + i < c.endTile) {
            lookupKvSlots<KEYS>(slot, table, pageSize, pageShift, (c.beginTile + i) * KEYS, c.numKeys);
            issueSwizzledKvTile<KEYS>(kTileOf(c.beginTile + i), vTileOf(c.beginTile + i), kCache, vCache, slot, numKvHeads, c.kvHead);
        }
        copyAsyncCommit();
    }
    if (c.beginTile + AHEAD < c.endTile) {
        lookupKvSlots<KEYS>(slot, table, pageSize, pageShift, (c.beginTile + AHEAD) * KEYS, c.numKeys);
    }
    const bool lagging = LAG && (threadIdx.x >> 7) == 1;
    float s[SFRAGS][4];
    bool scored = false;  // lagging: s holds the scores of tile kt - 1, their softmax not yet run
    for (int kt = c.beginTile; kt < c.endTile; kt++) {
        copyAsyncWait<AHEAD - 1>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // the copies, visible to the MMAs' reads
        __syncthreads();  // ... for every thread's copies; and the stage refilled below is done with in both warpgroups
        if (kt + AHEAD < c.endTile) {
            issueSwizzledKvTile<KEYS>(kTileOf(kt + AHEAD), vTileOf(kt + AHEAD), kCache, vCache, slot, numKvHeads, c.kvHead);
            if (kt + AHEAD + 1 < c.endTile) {
                lookupKvSlots<KEYS>(slot, table, pageSize, pageShift, (kt + AHEAD + 1) * KEYS, c.numKeys);
            }
        }
        copyAsyncCommit();
        if (lagging) {
            if (scored) {
                softmaxAndIssueValues(s, kt - 1);
                wgmmaWait<0>();
                fenceOperands(acc);
                scored = false;
            }
            if (kt < groupEnd) {
                issueScores(s, kt);
                wgmmaWait<0>();
                scored = true;
            }
            continue;
        }
        if (kt >= groupEnd) continue;
        issueScores(s, kt);
        wgmmaWait<0>();
        softmaxAndIssueValues(s, kt);
        wgmmaWait<0>();
        fenceOperands(acc);
    }
    if (scored) {  // no copy follows the last tile: its stage is intact
        softmaxAndIssueValues(s, c.endTile - 1);
        wgmmaWait<0>();
        fenceOperands(acc);
    }

#pragma unroll
    for (int half = 0; half < 2; half++) {
        if (rowPos[0][half] < 0) continue;
        storePrefillRow<HD, WG_ROWS>(acc, half, runMax[half], runSum[half], warp * 16 + quadRow + half * 8, c, numHeads,
                                     numKvHeads, out, partMax, partSum, partAcc);
    }
#else
    __trap();  // the warpgroup MMA needs sm_90a
#endif
}

#define PREFILL_ATTENTION_WGMMA_ENTRY(NAME, KEYS, STAGES, LAG)                                                              \
    extern "C" __global__ void __launch_bounds__(WG_THREADS, 1) NAME(                                             \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* blockTables, \
            const int* tiles, int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, float scaleLog2,   \
            int splitTiles, int headsFastest, bf16* out, float* partMax, float* partSum, float* partAcc) {       \
        prefillAttentionWgmma<KEYS, STAGES, LAG>(q, kCache, vCache, positions, blockTables, tiles, maxPagesPerSeq, pageSize,  \
                                      numHeads, numKvHeads, scaleLog2, splitTiles, headsFastest, out, partMax,     \
                                      partSum, partAcc);                                                         \
    }
// 128-key tiles, three stages (192 KB of shared memory), warpgroup 1 half a tile behind warpgroup 0. Measured at 8k
// tokens, 8B shape, per layer, against 2.05 ms for fast64b: 64-key tiles in step 1.75-1.80 ms; 128-key tiles in step
// 1.58-1.64 ms; out of step 1.550 ms (2k tokens: 0.141 ms against 0.158 in step); out of step with 64-key tiles
// 1.689 ms; a copying warp with mbarriers instead of the CTA barrier 2.24-2.31 ms; each warpgroup issuing S of the
// next tile before its softmax 1.78-1.83 ms (BENCHMARKS.md).
PREFILL_ATTENTION_WGMMA_ENTRY(prefill_attention_wgmma_hd128, 128, 3, true)
