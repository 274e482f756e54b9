#include "common.cuh"

// Causal prefill attention, FlashAttention-2 style, over the paged KV cache. Where paged_attention
// makes every query token read all of its keys, here one CTA takes a tile of query tokens of one
// sequence and one KV head (all query heads of its GQA group) and streams the sequence's key/value
// pages through shared memory once for the whole tile: S = Q·Kᵀ and O += P·V on the tensor cores
// (mma.sync m16n8k16, bf16 in, float32 accumulate), online softmax in float32 registers.
//
// The CTA's PF_ROWS rows are (token, head) pairs, token-major: row r is query token
// tile.firstToken + r / group, head kvHead * group + r % group; rows past tile.numTokens * group are
// padding (computed on zeros, never stored). Warp w owns rows [16 w, 16 w + 16).
// A query at absolute position p sees keys [0, p] (the cached prefix plus the new tokens up to itself;
// rope_qk_norm_kv_write has already put the new tokens' K/V into their pages). Key tiles start at
// absolute position 0 whatever the query tile, and a key tile a row cannot see leaves that row's state
// bit for bit unchanged, so a row's output does not depend on which tile (or chunk) it came in.
//
// q          (numTokens, numHeads, HD) float32, after RoPE (rounded to bf16 for the tensor cores)
// kCache, vCache (numSlots, numKvHeads, HD) bf16 of this layer
// positions  (numTokens); ascending within a tile, so its first token sees the fewest keys and its last
//            the most (ForwardBatch: a sequence's new tokens are its last positions, in order)
// blockTables (numSeqs, maxPagesPerSeq)
// tiles      (numTiles, 4) int: seq, firstToken (row of q/out), numTokens (<= PF_ROWS / group), unused
// out        (numTokens, numHeads, HD) bf16; only the rows of tokens named by tiles are written
// grid (numTiles, numKvHeads), block PF_WARPS * 32. HD: 32, 48, 64, 96 or 128; any pageSize >= 1.
// __launch_bounds__(.., 2): without the 2, ptxas picks 96 registers for HD 32 and spills.
#define PF_WARPS 4
#define PF_ROWS (PF_WARPS * 16)
#define PF_KEYS 64

__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (lower address), .y = hi
    return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ void mmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const bf16* smem) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const bf16* smem) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

// 16 bytes global -> shared without passing through registers; srcBytes 0 writes zeros instead.
__device__ __forceinline__ void copyAsync16(bf16* smem, const bf16* global, int srcBytes) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(address), "l"(global), "r"(srcBytes));
}

__device__ __forceinline__ void copyAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int N>
__device__ __forceinline__ void copyAsyncWait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory"); }

// Starts copying keys [keyStart, keyStart + PF_KEYS) of one KV head into tile (PF_KEYS, HD + 8);
// keys at or past numKeys become zeros (a masked key's V must be 0, not stale NaN, since P·V sums it).
// pageShift: log2(pageSize) when it is a power of two (a shift instead of an integer division per row), else -1.
template <int HD>
__device__ __forceinline__ void loadKeyTile(bf16 (*tile)[HD + 8], const bf16* __restrict__ cache,
                                            const int* __restrict__ table, int pageSize, int pageShift,
                                            int numKvHeads, int kvHead, int keyStart, int numKeys) {
    constexpr int CHUNKS = HD / 8;  // 16-byte pieces of one key row
    for (int c = threadIdx.x; c < PF_KEYS * CHUNKS; c += PF_WARPS * 32) {
        int row = c / CHUNKS;
        int col = (c % CHUNKS) * 8;
        int key = keyStart + row;
        const bf16* src = cache;  // any valid address when zero-filling
        if (key < numKeys) {
            int page = pageShift >= 0 ? key >> pageShift : key / pageSize;
            long slot = (long)table[page] * pageSize + (key - page * pageSize);
            src = cache + (slot * numKvHeads + kvHead) * HD + col;
        }
        copyAsync16(&tile[row][col], src, key < numKeys ? 16 : 0);
    }
}

template <int HD>
__device__ __forceinline__ void prefillAttention(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ blockTables, const int* __restrict__ tiles,
        int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, float scaleLog2, bf16* __restrict__ out) {
    constexpr int KSTEPS = HD / 16;   // k-steps of Q·Kᵀ
    constexpr int DFRAGS = HD / 8;    // n-fragments of the output
    constexpr int SFRAGS = PF_KEYS / 8;  // n-fragments of S
    __shared__ __align__(16) bf16 kTile[PF_KEYS][HD + 8];  // +8: rows 16 bytes apart in banks, no ldmatrix conflicts
    __shared__ __align__(16) bf16 vTile[PF_KEYS][HD + 8];

    const int seq = tiles[blockIdx.x * 4];
    const int firstToken = tiles[blockIdx.x * 4 + 1];
    const int tileTokens = tiles[blockIdx.x * 4 + 2];
    const int kvHead = blockIdx.y;
    const int group = numHeads / numKvHeads;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int quadRow = lane >> 2;       // row within the 8-row half of an mma fragment
    const int quadCol = (lane & 3) * 2;  // first of the two columns a thread holds
    const int* table = blockTables + (long)seq * maxPagesPerSeq;
    const int firstPos = positions[firstToken];
    const int numKeys = positions[firstToken + tileTokens - 1] + 1;  // keys the tile's last token sees
    const int pageShift = (pageSize & (pageSize - 1)) == 0 ? __ffs(pageSize) - 1 : -1;

    // This thread's two rows (quadRow and quadRow + 8 of the warp's 16) and their causal limits.
    int rowPos[2];
    long rowOffset[2];  // element offset of the row's (token, head) in q and out, or -1 for padding
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int r = warp * 16 + quadRow + half * 8;
        int t = r / group;
        bool valid = t < tileTokens;
        rowPos[half] = valid ? positions[firstToken + t] : -1;
        rowOffset[half] = valid ? ((long)(firstToken + t) * numHeads + kvHead * group + r % group) * HD : -1;
    }

    // Q as mma A fragments, straight from global float32 (read once per CTA).
    uint32_t qFrag[KSTEPS][4];
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int half = i & 1;               // a0, a2: row quadRow; a1, a3: row quadRow + 8
            int d = kk * 16 + quadCol + (i >> 1) * 8;
            float2 v = rowOffset[half] >= 0 ? *reinterpret_cast<const float2*>(q + rowOffset[half] + d)
                                            : make_float2(0.0f, 0.0f);
            qFrag[kk][i] = packBf16(v.x, v.y);
        }
    }

    float acc[DFRAGS][4];
#pragma unroll
    for (int f = 0; f < DFRAGS; f++) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.0f;
    float runMax[2] = {-CUDART_INF_F, -CUDART_INF_F};  // in log2 units (scores · scale · log2 e)
    float runSum[2] = {0.0f, 0.0f};

    const int numKeyTiles = (numKeys + PF_KEYS - 1) / PF_KEYS;
    loadKeyTile<HD>(kTile, kCache, table, pageSize, pageShift, numKvHeads, kvHead, 0, numKeys);
    copyAsyncCommit();
    loadKeyTile<HD>(vTile, vCache, table, pageSize, pageShift, numKvHeads, kvHead, 0, numKeys);
    copyAsyncCommit();

    for (int kt = 0; kt < numKeyTiles; kt++) {
        const int keyStart = kt * PF_KEYS;
        copyAsyncWait<1>();  // this tile's K has landed (its V may still be in flight)
        __syncthreads();

        float s[SFRAGS][4];
#pragma unroll
        for (int f = 0; f < SFRAGS; f++) s[f][0] = s[f][1] = s[f][2] = s[f][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
            for (int f = 0; f < SFRAGS; f += 2) {
                // matrices: keys 8f.. dims 16kk / 16kk+8, then keys 8(f+1).. at the same dims
                uint32_t b[4];
                int key = f * 8 + (lane & 7) + ((lane >> 4) << 3);
                int dim = kk * 16 + ((lane >> 3) & 1) * 8;
                ldmatrixX4(b, &kTile[key][dim]);
                mmaBf16(s[f], qFrag[kk], b[0], b[1]);
                mmaBf16(s[f + 1], qFrag[kk], b[2], b[3]);
            }
        }
        __syncthreads();  // every warp is done with kTile: the next tile's K may overwrite it
        if (kt + 1 < numKeyTiles) {
            loadKeyTile<HD>(kTile, kCache, table, pageSize, pageShift, numKvHeads, kvHead, keyStart + PF_KEYS, numKeys);
        }
        copyAsyncCommit();  // possibly empty, so that the group count stays the same every iteration

        // Scale into log2 units and mask keys past each row's position (only the tiles near the diagonal).
        const bool needsMask = keyStart + PF_KEYS - 1 > firstPos;
#pragma unroll
        for (int f = 0; f < SFRAGS; f++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int key = keyStart + f * 8 + quadCol + (i & 1);
                float x = s[f][i] * scaleLog2;
                s[f][i] = needsMask && key > rowPos[i >> 1] ? -CUDART_INF_F : x;
            }
        }

        // Online softmax per row: the quad (4 lanes) holding a row reduces its max and sum together.
        uint32_t pFrag[PF_KEYS / 16][4];
#pragma unroll
        for (int half = 0; half < 2; half++) {
            float tileMax = -CUDART_INF_F;
#pragma unroll
            for (int f = 0; f < SFRAGS; f++) tileMax = fmaxf(tileMax, fmaxf(s[f][half * 2], s[f][half * 2 + 1]));
            tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 1));
            tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 2));
            float newMax = fmaxf(runMax[half], tileMax);
            float base = newMax == -CUDART_INF_F ? 0.0f : newMax;  // a row that has seen no key yet stays at 0
            float correction = exp2f(runMax[half] - base);          // 0 on the first keys, 1 if the max holds
            float tileSum = 0.0f;
#pragma unroll
            for (int f = 0; f < SFRAGS; f++) {
                s[f][half * 2] = exp2f(s[f][half * 2] - base);
                s[f][half * 2 + 1] = exp2f(s[f][half * 2 + 1] - base);
                tileSum += s[f][half * 2] + s[f][half * 2 + 1];
            }
            tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 1);
            tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 2);
            runSum[half] = runSum[half] * correction + tileSum;
            runMax[half] = newMax;
#pragma unroll
            for (int f = 0; f < DFRAGS; f++) {
                acc[f][half * 2] *= correction;
                acc[f][half * 2 + 1] *= correction;
            }
        }
        // The S accumulators of keys [16j, 16j + 16) are the A fragment of P for k-step j.
#pragma unroll
        for (int j = 0; j < PF_KEYS / 16; j++) {
            pFrag[j][0] = packBf16(s[2 * j][0], s[2 * j][1]);
            pFrag[j][1] = packBf16(s[2 * j][2], s[2 * j][3]);
            pFrag[j][2] = packBf16(s[2 * j + 1][0], s[2 * j + 1][1]);
            pFrag[j][3] = packBf16(s[2 * j + 1][2], s[2 * j + 1][3]);
        }

        copyAsyncWait<1>();  // this tile's V has landed (the next K may still be in flight)
        __syncthreads();
#pragma unroll
        for (int j = 0; j < PF_KEYS / 16; j++) {
#pragma unroll
            for (int f = 0; f < DFRAGS; f += 2) {
                // transposed matrices: keys 16j.. / 16j+8.. at dims 8f.., then the same keys at dims 8(f+1)..
                uint32_t b[4];
                int key = j * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
                int dim = f * 8 + (lane >> 4) * 8;
                ldmatrixX4Trans(b, &vTile[key][dim]);
                mmaBf16(acc[f], pFrag[j], b[0], b[1]);
                mmaBf16(acc[f + 1], pFrag[j], b[2], b[3]);
            }
        }
        __syncthreads();  // every warp is done with vTile
        if (kt + 1 < numKeyTiles) {
            loadKeyTile<HD>(vTile, vCache, table, pageSize, pageShift, numKvHeads, kvHead, keyStart + PF_KEYS, numKeys);
        }
        copyAsyncCommit();
    }
    copyAsyncWait<0>();  // leave no copy in flight behind the CTA

    // Each quad has the full row sum; normalise and store bf16 pairs.
#pragma unroll
    for (int half = 0; half < 2; half++) {
        if (rowOffset[half] < 0) continue;
        float inv = 1.0f / runSum[half];  // > 0: a row always sees at least its own key
#pragma unroll
        for (int f = 0; f < DFRAGS; f++) {
            int d = f * 8 + quadCol;
            *reinterpret_cast<uint32_t*>(out + rowOffset[half] + d) =
                    packBf16(acc[f][half * 2] * inv, acc[f][half * 2 + 1] * inv);
        }
    }
}

#define PREFILL_ATTENTION_ENTRY(HD)                                                                              \
    extern "C" __global__ void __launch_bounds__(PF_WARPS * 32, 2) prefill_attention_hd##HD(                      \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* blockTables,  \
            const int* tiles, int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, float scaleLog2,    \
            bf16* out) {                                                                                          \
        prefillAttention<HD>(q, kCache, vCache, positions, blockTables, tiles, maxPagesPerSeq, pageSize,          \
                             numHeads, numKvHeads, scaleLog2, out);                                               \
    }

PREFILL_ATTENTION_ENTRY(32)
PREFILL_ATTENTION_ENTRY(48)
PREFILL_ATTENTION_ENTRY(64)
PREFILL_ATTENTION_ENTRY(96)
PREFILL_ATTENTION_ENTRY(128)
