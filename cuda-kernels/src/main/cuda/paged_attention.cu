#include "common.cuh"
#include "rope.cuh"
#include <cooperative_groups.h>

// V1 (kept for an A/B behind -Dradixlm.attention.v1=true; the streaming kernels below are the default):
// attention of every new token over its sequence's cached K/V, read through the block table. One
// kernel serves prefill (many query tokens per sequence, causal: token at position p sees keys
// [0, p], i.e. the cached prefix plus the new tokens up to itself, whose K/V rope_qk_norm_kv_write has
// already put into their pages) and decode (one query per sequence). The keys are split along the
// sequence into chunks of splitSize (grid z), each block writing a partial softmax state; then
// attention_reduce merges the chunks. Under GQA a block serves all query heads of one KV head, so each
// K/V row is read once per group.
//
// q          (numTokens, numHeads, HD) float32, after RoPE
// kCache, vCache (numSlots, numKvHeads, HD) bf16 of this layer
// positions  (numTokens): a token attends keys [0, positions[t]]
// tokenSeq   (numTokens): the sequence (row of blockTables) each token belongs to
// blockTables (numSeqs, maxPagesPerSeq)
// partMax, partSum (numTokens, numHeads, maxSplits); partAcc (numTokens, numHeads, maxSplits, HD)
// skipToken  (numTokens) or null: tokens with a nonzero entry are left to prefill_attention (rows of
//            sequences with several new tokens); attention_reduce skips them too
// grid (numTokens, numKvHeads, maxSplits), block ATTN_WARPS * 32. HD: 32, 48, 64, 96 or 128.
#define ATTN_WARPS 4
#define MAX_GROUP 8

template <int HD>
__device__ __forceinline__ void pagedAttentionPartial(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ tokenSeq, const int* __restrict__ blockTables,
        int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads, int splitSize, int maxSplits, float scale,
        float* __restrict__ partMax, float* __restrict__ partSum, float* __restrict__ partAcc,
        const int* __restrict__ skipToken) {
    constexpr int E = (HD + 31) / 32;  // lane owns elements lane, lane + 32, ... (< HD) of a head
    __shared__ float qShared[MAX_GROUP][HD];
    __shared__ float warpMax[ATTN_WARPS][MAX_GROUP];
    __shared__ float warpSumExp[ATTN_WARPS][MAX_GROUP];
    __shared__ float warpAcc[ATTN_WARPS][MAX_GROUP][HD];

    long token = blockIdx.x;
    int kvHead = blockIdx.y;
    int split = blockIdx.z;
    int group = numHeads / numKvHeads;
    if (skipToken != nullptr && skipToken[token] != 0) return;
    int numKeys = positions[token] + 1;
    int begin = split * splitSize;
    if (begin >= numKeys) return;  // attention_reduce reads only the splits that hold keys
    int end = min(numKeys, begin + splitSize);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;

    for (int idx = threadIdx.x; idx < group * HD; idx += blockDim.x) {
        int h = idx / HD;
        qShared[h][idx % HD] = q[(token * numHeads + kvHead * group + h) * HD + idx % HD] * scale;
    }
    __syncthreads();

    float runMax[MAX_GROUP], runSum[MAX_GROUP], acc[MAX_GROUP][E];
#pragma unroll
    for (int h = 0; h < MAX_GROUP; h++) {
        runMax[h] = -CUDART_INF_F;
        runSum[h] = 0.0f;
#pragma unroll
        for (int e = 0; e < E; e++) acc[h][e] = 0.0f;
    }

    const int* table = blockTables + (long)tokenSeq[token] * maxPagesPerSeq;
    for (int j = begin + warp; j < end; j += ATTN_WARPS) {
        long slot = (long)table[j / pageSize] * pageSize + j % pageSize;
        long offset = (slot * numKvHeads + kvHead) * HD;
        float k[E], v[E];
#pragma unroll
        for (int e = 0; e < E; e++) {
            int d = lane + 32 * e;
            k[e] = d < HD ? toFloat(kCache[offset + d]) : 0.0f;
            v[e] = d < HD ? toFloat(vCache[offset + d]) : 0.0f;
        }
#pragma unroll
        for (int h = 0; h < MAX_GROUP; h++) {
            if (h < group) {
                float dot = 0.0f;
#pragma unroll
                for (int e = 0; e < E; e++) {
                    if (lane + 32 * e < HD) dot += qShared[h][lane + 32 * e] * k[e];
                }
                dot = warpSum(dot);
                float newMax = fmaxf(runMax[h], dot);
                float correction = expf(runMax[h] - newMax);  // exp(-inf) = 0 on the first key
                float p = expf(dot - newMax);
                runSum[h] = runSum[h] * correction + p;
#pragma unroll
                for (int e = 0; e < E; e++) acc[h][e] = acc[h][e] * correction + p * v[e];
                runMax[h] = newMax;
            }
        }
    }

#pragma unroll
    for (int h = 0; h < MAX_GROUP; h++) {
        if (h < group) {
            if (lane == 0) {
                warpMax[warp][h] = runMax[h];
                warpSumExp[warp][h] = runSum[h];
            }
#pragma unroll
            for (int e = 0; e < E; e++) {
                if (lane + 32 * e < HD) warpAcc[warp][h][lane + 32 * e] = acc[h][e];
            }
        }
    }
    __syncthreads();

    for (int idx = threadIdx.x; idx < group * HD; idx += blockDim.x) {
        int h = idx / HD;
        int d = idx % HD;
        float m = -CUDART_INF_F;
        for (int w = 0; w < ATTN_WARPS; w++) m = fmaxf(m, warpMax[w][h]);
        float sum = 0.0f, value = 0.0f;
        for (int w = 0; w < ATTN_WARPS; w++) {
            if (warpMax[w][h] == -CUDART_INF_F) continue;  // a warp that saw no key
            float c = expf(warpMax[w][h] - m);
            sum += warpSumExp[w][h] * c;
            value += warpAcc[w][h][d] * c;
        }
        long partIndex = (token * numHeads + kvHead * group + h) * maxSplits + split;
        partAcc[partIndex * HD + d] = value;
        if (d == 0) {
            partMax[partIndex] = m;
            partSum[partIndex] = sum;
        }
    }
}

#define PAGED_ATTENTION_ENTRY(HD)                                                                              \
    extern "C" __global__ void __launch_bounds__(ATTN_WARPS * 32) paged_attention_hd##HD(                       \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* tokenSeq,  \
            const int* blockTables, int maxPagesPerSeq, int pageSize, int numHeads, int numKvHeads,             \
            int splitSize, int maxSplits, float scale, float* partMax, float* partSum, float* partAcc,          \
            const int* skipToken) {                                                                             \
        pagedAttentionPartial<HD>(q, kCache, vCache, positions, tokenSeq, blockTables, maxPagesPerSeq,          \
                                  pageSize, numHeads, numKvHeads, splitSize, maxSplits, scale, partMax,         \
                                  partSum, partAcc, skipToken);                                                 \
    }

PAGED_ATTENTION_ENTRY(32)
PAGED_ATTENTION_ENTRY(48)
PAGED_ATTENTION_ENTRY(64)
PAGED_ATTENTION_ENTRY(96)
PAGED_ATTENTION_ENTRY(128)

// Merges the per-split softmax states of paged_attention_hd*: out (numTokens, numHeads, headDim) bf16.
// Tokens with a nonzero skipToken entry (may be null) are left alone. grid (numTokens, numHeads), block headDim threads.
extern "C" __global__ void attention_reduce(const float* __restrict__ partMax, const float* __restrict__ partSum,
                                            const float* __restrict__ partAcc, const int* __restrict__ positions,
                                            int numHeads, int headDim, int splitSize, int maxSplits,
                                            bf16* __restrict__ out, const int* __restrict__ skipToken) {
    long token = blockIdx.x;
    if (skipToken != nullptr && skipToken[token] != 0) return;
    int head = blockIdx.y;
    int d = threadIdx.x;
    int numSplits = (positions[token] + splitSize) / splitSize;  // ceil((position + 1) / splitSize)
    long base = (token * numHeads + head) * maxSplits;
    float m = -CUDART_INF_F;
    for (int s = 0; s < numSplits; s++) m = fmaxf(m, partMax[base + s]);
    float sum = 0.0f, value = 0.0f;
    for (int s = 0; s < numSplits; s++) {
        float c = expf(partMax[base + s] - m);
        sum += partSum[base + s] * c;
        value += partAcc[(base + s) * headDim + d] * c;
    }
    out[(token * numHeads + head) * headDim + d] = toBf16(value / sum);
}

// ---------------------------------------------------------------------------------------------------
// V2, paged_attention_split_hd{HD}_g{G} + attention_reduce_split: the decode attention that streams K/V (kept
// for an A/B through -Dradixlm.attention.v2=true; V3 below is the default, the kernels above are V1).
//
// The split count is chosen per launch (grid z = numSplits, from the batch: enough CTAs to fill the GPU);
// each CTA derives its key range from the token's actual context with splitChunk, so a CUDA graph captured
// once stays right at every later context. attention_reduce_split applies the same rule.
//
// Inside a CTA each warp works alone (no block barrier until the end): L lanes share a key, each lane
// holding 8 dims (one 16-byte load of K and one of V per key); a warp covers 32 / L keys per pass and U
// passes per iteration, all of whose K and V loads are issued before the first is used, with the next
// iteration's page-table entries fetched meanwhile. Scores reduce over the L lanes by shuffles; each warp
// keeps an online softmax (running max, sum, and the 8 V dims × G heads per lane); the warps' states merge
// through shared memory at the end. All query heads of a KV head (the GQA group, padded to G) share each
// K/V load. Scores are kept in log2 units (q pre-multiplied by scale·log2 e) so that exp is one exp2f.
//
// grid (numTokens, numKvHeads, numSplits), block SPLIT_WARPS * 32; partial states as above but packed:
// partMax, partSum (numTokens, numHeads, numSplits), partAcc (numTokens, numHeads, numSplits, HD), so that a
// decode step of few tokens may use many splits of a workspace sized for a long prefill. Splits past the
// context write max -inf, sum 0.
#define SPLIT_WARPS 4
#define SPLIT_CHUNK_ALIGN 16

// Keys per split for a token with numKeys keys: every split but the last holds a whole multiple of 16.
__device__ __forceinline__ int splitChunk(int numKeys, int numSplits) {
    int chunk = (numKeys + numSplits - 1) / numSplits;
    return (chunk + SPLIT_CHUNK_ALIGN - 1) / SPLIT_CHUNK_ALIGN * SPLIT_CHUNK_ALIGN;
}

template <int HD, int G>
struct SplitShape {
    static constexpr int DIM_LANES = HD / 8;                                                // lanes holding dims
    static constexpr int L = DIM_LANES <= 4 ? 4 : (DIM_LANES <= 8 ? 8 : 16);                // lanes per key
    static constexpr int KEYS_PER_PASS = 32 / L;
    static constexpr int U = G >= 8 ? 4 : 8;                                                 // passes per iteration
    static constexpr int KEYS_PER_WARP = KEYS_PER_PASS * U;
    static constexpr int KEYS_PER_ITER = KEYS_PER_WARP * SPLIT_WARPS;
    static_assert(HD % 8 == 0 && DIM_LANES <= L, "a head's dims must fit the lanes of a key");
};

// Element offsets of the K/V rows (slot, kvHead, 0) of keys firstKey + u·keysPerPass, or -1 past end.
template <int U>
__device__ __forceinline__ void keyRows(long (&rows)[U], int firstKey, int keysPerPass, int end,
                                        const int* __restrict__ table, int pageSize, int pageShift,
                                        int numKvHeads, int kvHead, int headDim) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        int key = firstKey + u * keysPerPass;
        rows[u] = -1;
        if (key < end) {
            int pageIndex = pageShift >= 0 ? key >> pageShift : key / pageSize;
            long slot = (long)__ldg(table + pageIndex) * pageSize + (key - pageIndex * pageSize);
            rows[u] = (slot * numKvHeads + kvHead) * headDim;
        }
    }
}

__device__ __forceinline__ void bf16x8ToFloat(const uint4& raw, float (&out)[8]) {
    const unsigned int w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        out[2 * i] = __uint_as_float(w[i] << 16);  // the lower bf16 is the earlier element
        out[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

// qReg[g] = this lane's 8 dims (sub·8 ..) of head g of the group at qGroup (group, HD), times scale·log2 e
// (scores in log2 units, so that exp is one exp2f); zero for padded heads and lanes that hold no dims.
template <int HD, int G>
__device__ __forceinline__ void loadGroupQuery(float (&qReg)[G][8], const float* __restrict__ qGroup, int group,
                                               int sub, bool holdsDims, float scale) {
    const float qScale = scale * 1.4426950408889634f;
#pragma unroll
    for (int g = 0; g < G; g++) {
#pragma unroll
        for (int i = 0; i < 8; i++) qReg[g][i] = 0.0f;
        if (g < group && holdsDims) {
            const float4* src = reinterpret_cast<const float4*>(qGroup + g * HD + sub * 8);
            float4 a = src[0], b = src[1];
            qReg[g][0] = a.x * qScale; qReg[g][1] = a.y * qScale; qReg[g][2] = a.z * qScale; qReg[g][3] = a.w * qScale;
            qReg[g][4] = b.x * qScale; qReg[g][5] = b.y * qScale; qReg[g][6] = b.z * qScale; qReg[g][7] = b.w * qScale;
        }
    }
}

template <int G>
__device__ __forceinline__ void clearSoftmaxState(float (&runMax)[G], float (&runSum)[G], float (&acc)[G][8]) {
#pragma unroll
    for (int g = 0; g < G; g++) {
        runMax[g] = -CUDART_INF_F;
        runSum[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[g][i] = 0.0f;
    }
}

// The full dot products of G heads over the L lanes of a key (sub = lane's index among them), each lane holding
// partial sums d[g]: instead of G separate shuffle trees (G·log2 L shuffles and adds), a reduce-scatter (at each
// level a lane keeps half of its heads, chosen by its bit of the level's offset, and sends the other half to its
// partner) leaves each lane one head's sum after G - 1 shuffles, the remaining levels add that one value, and G
// indexed shuffles hand every lane all G sums (G = 4, L = 16: 9 shuffles and 5 adds, not 16 and 16). The lanes
// of a head get bit-identical sums (each pair adds the same two operands), and all lanes take each head from the
// same lane, so scores stay warp-uniform. Needs 2 <= G <= L.
template <int G, int L>
__device__ __forceinline__ void transposedKeySums(float (&d)[G]) {
    static_assert(G >= 2 && G <= L, "one head per lane at most");
    int sub = threadIdx.x & (L - 1);
#pragma unroll
    for (int c = G, offset = L / 2; c > 1; c /= 2, offset /= 2) {
        bool upper = (sub & offset) != 0;  // after this level d[j] is head j + c/2 if upper, else head j
#pragma unroll
        for (int j = 0; j < c / 2; j++) {
            float send = upper ? d[j] : d[j + c / 2];
            float keep = upper ? d[j + c / 2] : d[j];
            d[j] = keep + __shfl_xor_sync(0xffffffffu, send, offset);
        }
    }
    float total = d[0];  // head sub / (L / G), summed over the lanes that differ in sub's top log2 G bits
#pragma unroll
    for (int offset = L / G / 2; offset > 0; offset >>= 1) total += __shfl_xor_sync(0xffffffffu, total, offset);
    int firstLane = (threadIdx.x & 31) & ~(L - 1);
#pragma unroll
    for (int g = 0; g < G; g++) d[g] = __shfl_sync(0xffffffffu, total, firstLane + g * (L / G));
}

// One iteration of a warp (U passes of 32 / L keys): scores of its keys (invalid ones -inf), the online-softmax
// update of every head of the group, and the V accumulation. Shared by the streaming kernels V2 and V3.
// LAZY_RESCALE (V3): the running max moves only when a score exceeds it by more than RESCALE_SLACK (log2 units),
// so that most iterations skip the correction (an exp2f, 8 multiplies and a multiply-add per head); probabilities
// then stay below 2^RESCALE_SLACK, harmless in float32. The max is the same in every lane of the warp (xor
// shuffles add and compare the same operands in every lane), so the branch never diverges.
#define RESCALE_SLACK 8.0f
template <int G, int U, int L, bool LAZY_RESCALE, bool TRANSPOSED = false>
__device__ __forceinline__ void attendKeys(const uint4 (&kRaw)[U], const uint4 (&vRaw)[U], const bool (&keyValid)[U],
                                           const float (&qReg)[G][8], float (&runMax)[G], float (&runSum)[G],
                                           float (&acc)[G][8]) {
    float p[G][U];  // scores, then probabilities
#pragma unroll
    for (int u = 0; u < U; u++) {
        float k[8];
        bf16x8ToFloat(kRaw[u], k);
        float dot[G];
#pragma unroll
        for (int g = 0; g < G; g++) {
            dot[g] = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; i++) dot[g] = fmaf(qReg[g][i], k[i], dot[g]);
        }
        if constexpr (TRANSPOSED && G >= 2 && G <= L) {
            transposedKeySums<G, L>(dot);
        } else {
#pragma unroll
            for (int g = 0; g < G; g++) {
#pragma unroll
                for (int offset = L / 2; offset > 0; offset >>= 1) dot[g] += __shfl_xor_sync(0xffffffffu, dot[g], offset);
            }
        }
#pragma unroll
        for (int g = 0; g < G; g++) p[g][u] = keyValid[u] ? dot[g] : -CUDART_INF_F;
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
        float m = p[g][0];
#pragma unroll
        for (int u = 1; u < U; u++) m = fmaxf(m, p[g][u]);
#pragma unroll
        for (int offset = L; offset < 32; offset <<= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
        if constexpr (LAZY_RESCALE) {
            if (m > runMax[g] + RESCALE_SLACK) {  // always on the warp's first key: -inf + slack = -inf
                float correction = exp2f(runMax[g] - m);  // 0 on the first key
                runMax[g] = m;
                runSum[g] *= correction;
#pragma unroll
                for (int i = 0; i < 8; i++) acc[g][i] *= correction;
            }
            float base = runMax[g] == -CUDART_INF_F ? 0.0f : runMax[g];  // no key yet: p = 0, not NaN
            float sum = 0.0f;
#pragma unroll
            for (int u = 0; u < U; u++) {
                p[g][u] = exp2f(p[g][u] - base);
                sum += p[g][u];
            }
            runSum[g] += sum;
            continue;
        }
        float newMax = fmaxf(runMax[g], m);
        float base = newMax == -CUDART_INF_F ? 0.0f : newMax;  // no key yet: keep everything at 0, not NaN
        float correction = exp2f(runMax[g] - base);
        runMax[g] = newMax;
        float sum = 0.0f;
#pragma unroll
        for (int u = 0; u < U; u++) {
            p[g][u] = exp2f(p[g][u] - base);
            sum += p[g][u];
        }
        runSum[g] = runSum[g] * correction + sum;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[g][i] *= correction;
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
        float v[8];
        bf16x8ToFloat(vRaw[u], v);
#pragma unroll
        for (int g = 0; g < G; g++) {
#pragma unroll
            for (int i = 0; i < 8; i++) acc[g][i] = fmaf(p[g][u], v[i], acc[g][i]);
        }
    }
}

// Each warp's state (its key slots added up) in shared memory, then a barrier.
template <int HD, int G, int L, int W>
__device__ __forceinline__ void shareWarpStates(float (&runMax)[G], float (&runSum)[G], float (&acc)[G][8],
                                                float (*warpMax)[G], float (*warpSumExp)[G], float (*warpAcc)[G][HD],
                                                int group, int sub, int keySlot, int warp) {
    // the key slots of a warp share its running max: their sums and accumulators simply add up
#pragma unroll
    for (int g = 0; g < G; g++) {
#pragma unroll
        for (int offset = L; offset < 32; offset <<= 1) {
            runSum[g] += __shfl_xor_sync(0xffffffffu, runSum[g], offset);
#pragma unroll
            for (int i = 0; i < 8; i++) acc[g][i] += __shfl_xor_sync(0xffffffffu, acc[g][i], offset);
        }
    }
    if (keySlot == 0) {
#pragma unroll
        for (int g = 0; g < G; g++) {
            if (g < group) {
                if (sub == 0) {
                    warpMax[warp][g] = runMax[g];
                    warpSumExp[warp][g] = runSum[g];
                }
                if (sub < HD / 8) {
#pragma unroll
                    for (int i = 0; i < 8; i++) warpAcc[warp][g][sub * 8 + i] = acc[g][i];
                }
            }
        }
    }
    __syncthreads();
}

// The CTA's state of head h, dim d from its warps' (shareWarpStates): running max m (log2 units), sum and value.
template <int HD, int G, int W>
__device__ __forceinline__ void mergeWarpStates(float (*warpMax)[G], float (*warpSumExp)[G], float (*warpAcc)[G][HD],
                                                int h, int d, float& m, float& sum, float& value) {
    m = -CUDART_INF_F;  // finite after the loop: warp 0 always sees the split's first key
    for (int w = 0; w < W; w++) m = fmaxf(m, warpMax[w][h]);
    sum = 0.0f;
    value = 0.0f;
    for (int w = 0; w < W; w++) {
        if (warpMax[w][h] == -CUDART_INF_F) continue;  // a warp that saw no key (short split)
        float c = exp2f(warpMax[w][h] - m);
        sum += warpSumExp[w][h] * c;
        value += warpAcc[w][h][d] * c;
    }
}

// The second half of writeSplitState, once the warps' states are in shared memory (after a barrier): the CTA's
// merged state of each head into the workspace, or value / sum into directOut.
template <int HD, int G, int W>
__device__ __forceinline__ void writeSharedStates(float (*warpMax)[G], float (*warpSumExp)[G], float (*warpAcc)[G][HD],
                                                  int group, float* __restrict__ partMax, float* __restrict__ partSum,
                                                  float* __restrict__ partAcc, long firstPart, int numSplits,
                                                  bf16* __restrict__ directOut) {
    for (int idx = threadIdx.x; idx < group * HD; idx += blockDim.x) {
        int h = idx / HD;
        int d = idx % HD;
        float m, sum, value;
        mergeWarpStates<HD, G, W>(warpMax, warpSumExp, warpAcc, h, d, m, sum, value);
        if (directOut != nullptr) {
            directOut[h * HD + d] = toBf16(value / sum);
            continue;
        }
        long part = firstPart + (long)h * numSplits;
        partAcc[part * HD + d] = value;
        if (d == 0) {
            partMax[part] = m * 0.6931471805599453f;  // back to natural-log units, as attention_reduce expects
            partSum[part] = sum;
        }
    }
}

// Merges the warps' online-softmax states of one CTA into its split's partial state (token, head, split); or, given
// directOut (the group's rows of out, (group, HD) bf16: the fused V3 kernel when this split is the only one holding
// keys), writes value / sum there instead, the bits attention_reduce_split would give for one split (its weight
// expf(0) = 1 and its sums of zeros leave value and sum as they are; value is never -0: it starts at +0).
template <int HD, int G, int L, int W>
__device__ __forceinline__ void writeSplitState(float (&runMax)[G], float (&runSum)[G], float (&acc)[G][8],
                                                float (*warpMax)[G], float (*warpSumExp)[G], float (*warpAcc)[G][HD],
                                                int group, int sub, int keySlot, int warp, float* __restrict__ partMax,
                                                float* __restrict__ partSum, float* __restrict__ partAcc,
                                                long firstPart, int numSplits, bf16* __restrict__ directOut = nullptr) {
    shareWarpStates<HD, G, L, W>(runMax, runSum, acc, warpMax, warpSumExp, warpAcc, group, sub, keySlot, warp);
    writeSharedStates<HD, G, W>(warpMax, warpSumExp, warpAcc, group, partMax, partSum, partAcc, firstPart, numSplits,
                                directOut);
}


template <int HD, int G>
__device__ __forceinline__ void pagedAttentionSplit(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ tokenSeq, const int* __restrict__ blockTables,
        int maxPagesPerSeq, int pageSize, int pageShift, int numHeads, int numKvHeads, int numSplits, float scale, float* __restrict__ partMax, float* __restrict__ partSum, float* __restrict__ partAcc,
        const int* __restrict__ skipToken) {
    using S = SplitShape<HD, G>;
    constexpr int L = S::L;
    constexpr int U = S::U;
    __shared__ float warpMax[SPLIT_WARPS][G];
    __shared__ float warpSumExp[SPLIT_WARPS][G];
    __shared__ float warpAcc[SPLIT_WARPS][G][HD];

    long token = blockIdx.x;
    int kvHead = blockIdx.y;
    int split = blockIdx.z;
    int group = numHeads / numKvHeads;  // <= G
    if (skipToken != nullptr && skipToken[token] != 0) return;
    int numKeys = positions[token] + 1;
    int chunk = splitChunk(numKeys, numSplits);
    int begin = split * chunk;
    long firstPart = (token * numHeads + kvHead * group) * numSplits + split;  // head h: firstPart + h·numSplits
    if (begin >= numKeys) {
        // a split past the context (short sequences in a batch sized for long ones): a neutral state
        if (threadIdx.x < group) {
            partMax[firstPart + threadIdx.x * numSplits] = -CUDART_INF_F;
            partSum[firstPart + threadIdx.x * numSplits] = 0.0f;
        }
        return;
    }
    int end = min(numKeys, begin + chunk);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int sub = lane & (L - 1);       // which 8 dims of the key this lane holds
    int keySlot = lane / L;         // which key of a pass
    bool holdsDims = sub < S::DIM_LANES;

    float qReg[G][8];  // this lane's 8 dims of each head of the group, in log2 units
    loadGroupQuery<HD, G>(qReg, q + (token * numHeads + kvHead * group) * HD, group, sub, holdsDims, scale);
    float runMax[G], runSum[G], acc[G][8];  // runSum and acc: this key slot's share only
    clearSoftmaxState<G>(runMax, runSum, acc);

    const int* table = blockTables + (long)tokenSeq[token] * maxPagesPerSeq;
    int numIters = (end - begin + S::KEYS_PER_ITER - 1) / S::KEYS_PER_ITER;
    int firstKey = begin + warp * S::KEYS_PER_WARP + keySlot;  // key of pass 0 in iteration 0
    long rows[U];
    keyRows<U>(rows, firstKey, S::KEYS_PER_PASS, end, table, pageSize, pageShift, numKvHeads, kvHead, HD);
    for (int it = 0; it < numIters; it++) {
        uint4 kRaw[U], vRaw[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            kRaw[u] = make_uint4(0, 0, 0, 0);
            vRaw[u] = make_uint4(0, 0, 0, 0);
            if (rows[u] >= 0 && holdsDims) {
                kRaw[u] = __ldg(reinterpret_cast<const uint4*>(kCache + rows[u] + sub * 8));
                vRaw[u] = __ldg(reinterpret_cast<const uint4*>(vCache + rows[u] + sub * 8));
            }
        }
        bool keyValid[U];
#pragma unroll
        for (int u = 0; u < U; u++) keyValid[u] = rows[u] >= 0;
        // the next iteration's page-table reads go out while this iteration's K/V are in flight
        keyRows<U>(rows, firstKey + (it + 1) * S::KEYS_PER_ITER, S::KEYS_PER_PASS, end, table, pageSize,
                   pageShift, numKvHeads, kvHead, HD);
        attendKeys<G, U, L, false>(kRaw, vRaw, keyValid, qReg, runMax, runSum, acc);
    }
    writeSplitState<HD, G, L, SPLIT_WARPS>(runMax, runSum, acc, warpMax, warpSumExp, warpAcc, group, sub, keySlot,
                                           warp, partMax, partSum, partAcc, firstPart, numSplits);
}

#define PAGED_ATTENTION_SPLIT_ENTRY(HD, G)                                                                     \
    extern "C" __global__ void __launch_bounds__(SPLIT_WARPS * 32) paged_attention_split_hd##HD##_g##G(        \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* tokenSeq,  \
            const int* blockTables, int maxPagesPerSeq, int pageSize, int pageShift, int numHeads,              \
            int numKvHeads, int numSplits, float scale, float* partMax, float* partSum, float* partAcc,         \
            const int* skipToken) {                                                                             \
        pdlGate();                                                                                              \
        pagedAttentionSplit<HD, G>(q, kCache, vCache, positions, tokenSeq, blockTables, maxPagesPerSeq,         \
                                   pageSize, pageShift, numHeads, numKvHeads, numSplits, scale, partMax,        \
                                   partSum, partAcc, skipToken);                                                \
    }
#define PAGED_ATTENTION_SPLIT_GROUPS(HD) \
    PAGED_ATTENTION_SPLIT_ENTRY(HD, 1)   \
    PAGED_ATTENTION_SPLIT_ENTRY(HD, 2)   \
    PAGED_ATTENTION_SPLIT_ENTRY(HD, 4)   \
    PAGED_ATTENTION_SPLIT_ENTRY(HD, 8)

PAGED_ATTENTION_SPLIT_GROUPS(32)
PAGED_ATTENTION_SPLIT_GROUPS(48)
PAGED_ATTENTION_SPLIT_GROUPS(64)
PAGED_ATTENTION_SPLIT_GROUPS(96)
PAGED_ATTENTION_SPLIT_GROUPS(128)

// ---------------------------------------------------------------------------------------------------
// The merge of packed split states, shared by attention_reduce_split (one head per CTA) and the fused V3 kernel (the
// last split of a (token, KV head) to finish merges the group's heads), so that both give the same bits: the same
// max, the same weights expf(partMax - m), the same per-thread strides and shuffle trees for the sums, and the same
// order over splits for the values.

// Most splits a merge takes (PagedAttentionKernel.MAX_SPLITS).
#define SPLIT_MAX 256

// The number of splits, of numSplits, that hold keys for a token with numKeys keys (as the kernels split them).
__device__ __forceinline__ int splitsHoldingKeys(int numKeys, int numSplits) {
    int chunk = splitChunk(numKeys, numSplits);
    return (numKeys + chunk - 1) / chunk;
}

// Merges the first numUsed split states of group consecutive heads (<= G) into their out rows, outRows (group,
// headDim) bf16. Head g's state of split s is at index firstState + g·numSplits + s of partMax/partSum (and times
// headDim of partAcc). Threads 0 .. R - 1 (R: headDim rounded up to whole warps) do the work, thread d holding dim d
// of every head (the head loops are innermost, so the loads of all heads are in flight together); every thread of
// the block must call it (barriers). The states are read through L2 (__ldcg): in the fused kernel other CTAs wrote
// them moments ago, and L1 is not coherent.
template <int G>
__device__ __forceinline__ void mergeSplitStates(const float* __restrict__ partMax, const float* __restrict__ partSum,
                                                 const float* __restrict__ partAcc, long firstState, int numSplits,
                                                 int numUsed, int group, int headDim, bf16* __restrict__ outRows) {
    constexpr int VALUE_UNROLL = G >= 8 ? 4 : (G >= 4 ? 8 : 16);  // 16 (one head, as before) to 32 loads in flight
    __shared__ float weight[G][SPLIT_MAX];
    __shared__ float warpMaxOf[G][32];
    __shared__ float warpSumOf[G][32];
    __shared__ float total[G];
    const int numThreads = (headDim + 31) / 32 * 32;
    const int numWarps = numThreads / 32;
    int d = threadIdx.x;
    int lane = d & 31;
    int warp = d >> 5;
    bool active = d < numThreads;  // whole warps: the shuffles below never see a partly active warp

    float m[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        m[g] = -CUDART_INF_F;
        if (active && g < group) {
            for (int s = d; s < numUsed; s += numThreads) m[g] = fmaxf(m[g], __ldcg(partMax + firstState + g * numSplits + s));
        }
        for (int offset = 16; offset > 0; offset >>= 1) m[g] = fmaxf(m[g], __shfl_xor_sync(0xffffffffu, m[g], offset));
        if (lane == 0 && active) warpMaxOf[g][warp] = m[g];
    }
    __syncthreads();
#pragma unroll
    for (int g = 0; g < G; g++) {
        for (int w = 0; w < numWarps; w++) m[g] = fmaxf(m[g], warpMaxOf[g][w]);
    }

    // the sums as blockSum adds them over a block of numThreads: per thread, then per warp, then warp 0 over the warps
    float sum[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        sum[g] = 0.0f;
        if (active && g < group) {
            for (int s = d; s < numUsed; s += numThreads) {
                float w = expf(__ldcg(partMax + firstState + g * numSplits + s) - m[g]);
                weight[g][s] = w;
                sum[g] = fmaf(__ldcg(partSum + firstState + g * numSplits + s), w, sum[g]);
            }
        }
        sum[g] = warpSum(sum[g]);
        if (lane == 0 && active) warpSumOf[g][warp] = sum[g];
    }
    __syncthreads();  // also publishes weight[][]
    if (warp == 0) {
#pragma unroll
        for (int g = 0; g < G; g++) {
            float t = lane < numWarps ? warpSumOf[g][lane] : 0.0f;
            t = warpSum(t);
            if (lane == 0) total[g] = t;
        }
    }
    __syncthreads();
    if (d >= headDim) return;  // after the last barrier

    float value[G];
#pragma unroll
    for (int g = 0; g < G; g++) value[g] = 0.0f;
#pragma unroll VALUE_UNROLL
    for (int s = 0; s < numUsed; s++) {
#pragma unroll
        for (int g = 0; g < G; g++) {
            if (g < group) {
                value[g] = fmaf(__ldcg(partAcc + (firstState + g * numSplits + s) * headDim + d), weight[g][s], value[g]);
            }
        }
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (g < group) outRows[g * headDim + d] = toBf16(value[g] / total[g]);
    }
}

// The fused V3 kernel's ending, after its split state is in the workspace: counts the split in (token, KV head)'s
// counter, and the split that counts last (numUsed: the splits holding keys; the empty ones never count) merges
// every split's state into out and sets the counter back to 0, so the next launch (or graph replay) finds 0 again.
template <int HD, int G>
__device__ __forceinline__ void mergeIfLastSplit(const float* partMax, const float* partSum, const float* partAcc,
                                                 long firstState, int numSplits, int numUsed, int group,
                                                 int* __restrict__ counter, bf16* __restrict__ outRows) {
    __shared__ int isLast;
    __threadfence();  // this thread's state writes reach L2 before the count says they are there
    __syncthreads();
    if (threadIdx.x == 0) {
        int ticket = atomicAdd(counter, 1);
        isLast = ticket == numUsed - 1;
        if (isLast) *counter = 0;  // every other split holding keys has counted: none touches it again this launch
    }
    __syncthreads();
    if (!isLast) return;
    __threadfence();  // the other splits' states, read through L2, after their counts
    mergeSplitStates<G>(partMax, partSum, partAcc, firstState, numSplits, numUsed, group, HD, outRows);
}

// ---------------------------------------------------------------------------------------------------
// V3: paged_attention_v3_hd{HD}_g{G}_w{W}u{U}b{B}, the decode attention of head dims 32, 48 and 96 and of the clusters
// (the tensor-core kernel below is the default at head dims 64 and 128; V2 above stays for an A/B through
// -Dradixlm.attention.v2=true). Same grid, lanes, scores, softmax and packed partial states as V2, but a warp
// issues the K/V loads of its next iteration before it computes the current one: two register buffers, swapped
// by unrolling the loop by two, so that HBM streams while the warp computes (V2 loads, then computes, and with
// 8 warps per SM neither overlaps the other). W warps per CTA, U passes per iteration, and a register budget
// (__launch_bounds__ min B CTAs per SM) are template knobs: PagedAttentionKernel picks an instantiation by name
// (-Dradixlm.attention.v3=W4U4B2, the default, W8U2B2, W4U4B2T), so one GPU run can sweep them.
// grid (numTokens, numKvHeads, numSplits), block W * 32.
// out, counters: unused (null) by the plain kernels; the _fused ones (-Dradixlm.attention.fusedReduce=true) take out
// (numTokens, numHeads, HD) bf16 and counters (numTokens, numKvHeads) int, all 0 between launches, and merge the
// splits themselves (mergeIfLastSplit): attention_reduce_split is not launched, and out gets the bits it would give.
// oldKeysReady: nonzero when every token is its sequence's only new one (a decode step): the kernel then reads the
// page table and loads its first keys before griddepcontrol.wait (see pagedAttentionV3).

// The K/V rows of keys firstKey + u·keysPerPass as indices of 16-byte vectors (row (slot, kvHead) starts at
// vector (slot·numKvHeads + kvHead)·HD/8; an int holds it for caches up to 32 GiB a layer). Keys past end read the
// row of key end - 1 instead: always a real, finite row, so that the loads need no branch and no zeroed registers
// (validKeys gives those keys probability 0, and 0 · a finite value adds nothing). Ints, not V2's longs: two
// buffers in flight leave no registers to spare.
template <int HD, int U>
__device__ __forceinline__ void keyVectors(int (&rows)[U], int firstKey, int keysPerPass, int end,
                                           const int* __restrict__ table, int pageSize, int pageShift, int numKvHeads,
                                           int kvHead) {
    int keys[U], pageIndex[U];
#pragma unroll
    for (int u = 0; u < U; u++) keys[u] = min(firstKey + u * keysPerPass, end - 1);
    if (pageShift >= 0) {  // one uniform branch for all U keys, not one each
#pragma unroll
        for (int u = 0; u < U; u++) pageIndex[u] = keys[u] >> pageShift;
    } else {
#pragma unroll
        for (int u = 0; u < U; u++) pageIndex[u] = keys[u] / pageSize;
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
        int slot = __ldg(table + pageIndex[u]) * pageSize + (keys[u] - pageIndex[u] * pageSize);
        rows[u] = (slot * numKvHeads + kvHead) * (HD / 8);
    }
}

// Issues the K and V loads of one iteration's rows: this lane's 16 bytes (vector loadSub of the row). THROUGH_L2: by
// ld.global.cg rather than the read-only path, for a kernel that writes a row itself (the own key, ROPE) and may
// read it back later.
template <int U, bool THROUGH_L2 = false>
__device__ __forceinline__ void loadKeys(uint4 (&kRaw)[U], uint4 (&vRaw)[U], const int (&rows)[U],
                                         const uint4* __restrict__ kVectors, const uint4* __restrict__ vVectors,
                                         int loadSub) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        if constexpr (THROUGH_L2) {
            kRaw[u] = __ldcg(kVectors + rows[u] + loadSub);
            vRaw[u] = __ldcg(vVectors + rows[u] + loadSub);
        } else {
            kRaw[u] = __ldg(kVectors + rows[u] + loadSub);
            vRaw[u] = __ldg(vVectors + rows[u] + loadSub);
        }
    }
}

// Which keys of an iteration (pass u: firstKey + u·keysPerPass) lie in the split: recomputed when needed rather
// than kept beside both buffers, where each flag would hold a register.
template <int U>
__device__ __forceinline__ void validKeys(bool (&valid)[U], int firstKey, int keysPerPass, int end) {
#pragma unroll
    for (int u = 0; u < U; u++) valid[u] = firstKey + u * keysPerPass < end;
}

// Loads the token's own K/V (after the wait, through L2) into pass ownPass of a buffer loaded before it.
template <int U>
__device__ __forceinline__ void placeOwnKey(uint4 (&kRaw)[U], uint4 (&vRaw)[U], int ownPass,
                                            const uint4* __restrict__ kVectors, const uint4* __restrict__ vVectors,
                                            int vector) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (u == ownPass) {
            kRaw[u] = __ldcg(kVectors + vector);
            vRaw[u] = __ldcg(vVectors + vector);
        }
    }
}

// The cluster kernels' ending (CLUSTER > 0: one cluster holds all the splits of a (token, KV head)): each CTA's
// state, its warps merged, sits in its shared memory (ctaMax in log2 units, -inf for a split without keys; ctaSum;
// ctaAcc); after a cluster barrier, CTA rank r reads every CTA's state through distributed shared memory and writes
// the r-th C-th of the group's (head, dim) outputs; a second barrier keeps each CTA's shared memory alive until all
// have read it. No workspace, no counters, no reduce launch.
template <int HD, int G, int C>
__device__ __forceinline__ void mergeCluster(float* ctaMax, float* ctaSum, float (*ctaAcc)[HD], int group,
                                             bf16* __restrict__ outRows) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    int outputs = group * HD;
    int perRank = (outputs + C - 1) / C;
    int first = (int)cluster.block_rank() * perRank;
    for (int i = threadIdx.x; i < perRank && first + i < outputs; i += blockDim.x) {
        int h = (first + i) / HD;
        int d = (first + i) % HD;
        // every rank's state is read before any is used, so that the 3 · C remote loads are in flight together (behind
        // the branch below they went out one rank after the other: ~2.8 us of the 1B layer's 7)
        float rankMax[C], rankSum[C], rankValue[C];
#pragma unroll
        for (int r = 0; r < C; r++) {
            rankMax[r] = *cluster.map_shared_rank(ctaMax + h, r);
            rankSum[r] = *cluster.map_shared_rank(ctaSum + h, r);  // unset (and unused) where the rank has no keys
            rankValue[r] = *cluster.map_shared_rank(&ctaAcc[h][d], r);
        }
        float m = -CUDART_INF_F;  // finite after the loop: rank 0 always holds keys
#pragma unroll
        for (int r = 0; r < C; r++) m = fmaxf(m, rankMax[r]);
        float sum = 0.0f, value = 0.0f;
#pragma unroll
        for (int r = 0; r < C; r++) {
            if (rankMax[r] == -CUDART_INF_F) continue;
            float c = exp2f(rankMax[r] - m);
            sum += rankSum[r] * c;
            value += rankValue[r] * c;
        }
        outRows[first + i] = toBf16(value / sum);
    }
    cluster.sync();
#else
    __trap();  // clusters need sm_90
#endif
}

// What a 1-token decode step's clustered attention needs to apply the q/k norm and RoPE itself (ROPE: the models with
// q/k norms, whose RoPE otherwise runs as rope_qk_norm_kv_write_v2 between the qkv GEMV and the attention): the qkv
// GEMV's output row and what that kernel reads besides.
struct RopeInputs {
    const float* qkv;          // (qDim + 2·kvDim) float32, q and k heads in pair order
    const float* bias;         // (qDim + 2·kvDim) float32, or null
    const bf16* qNormWeight;   // (HD) bf16, or null; with kNormWeight
    const bf16* kNormWeight;
    const float2* angles;      // (HD / 2) (cos, sin) of the token's angles (rope_angles)
    const int* slotMapping;    // the token's KV slot
    bf16* kCacheOut;           // the layer's K and V cache, which the split holding the own key writes
    bf16* vCacheOut;
    float eps;
};

// After the wait: the group's q heads normalised and rotated into qOut (group, HD), and, in the CTA whose split holds
// the token's own key, its k head normalised, rotated and written with its v into the cache, by ropeHead as
// rope_qk_norm_kv_write_v2 runs it (the same bits), a warp per head. Every thread of the CTA calls it (barriers).
template <int HD, int G, int W>
__device__ __forceinline__ void ropeGroup(const RopeInputs& rope, float (*qOut)[HD], float* cosTable, float* sinTable,
                                          float (*rotateBuf)[HD], int kvHead, int group, int numHeads, int numKvHeads,
                                          bool holdsOwnKey) {
    constexpr int E = HD / 32;
    static_assert(HD % 32 == 0, "a head's dims in whole warps");
    for (int p = threadIdx.x; p < HD / 2; p += blockDim.x) {
        float2 a = rope.angles[p];
        cosTable[p] = a.x;
        sinTable[p] = a.y;
    }
    __syncthreads();
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int units = group + (holdsOwnKey ? 1 : 0);  // the q heads, then the k head
    for (int u = warp; u < units; u += W) {
        int head = u < group ? kvHead * group + u : numHeads + kvHead;
        float x[E], v[E];
        ropeLoadHead<E>(rope.qkv, head, lane, numHeads, HD, numHeads * HD, numKvHeads * HD, x, v);
        ropeHead<E>(x, v, rotateBuf[warp], cosTable, sinTable, rope.bias, rope.qNormWeight, rope.kNormWeight,
                    u < group ? qOut[u] : nullptr, rope.kCacheOut, rope.vCacheOut, u < group ? 0 : rope.slotMapping[0],
                    head, lane, numHeads, numKvHeads, HD, rope.eps);
    }
    __syncthreads();
}

template <int HD, int G, int W, int U_ASKED, bool TRANSPOSED, bool FUSED, int CLUSTER = 0, bool ROPE = false>
__device__ __forceinline__ void pagedAttentionV3(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ tokenSeq, const int* __restrict__ blockTables,
        int maxPagesPerSeq, int pageSize, int pageShift, int numHeads, int numKvHeads, int numSplits, float scale,
        float* __restrict__ partMax, float* __restrict__ partSum, float* __restrict__ partAcc,
        const int* __restrict__ skipToken, bf16* __restrict__ out, int* __restrict__ counters, int oldKeysReady,
        const RopeInputs& rope = RopeInputs{}) {
    static_assert(!ROPE || CLUSTER > 0, "the q/k norm and RoPE run in the clustered kernel only");
    constexpr int L = SplitShape<HD, G>::L;
    constexpr int U = G >= 8 && U_ASKED > 2 ? 2 : U_ASKED;  // G = 8: 128 query + accumulator registers leave room for no more
    constexpr int KEYS_PER_PASS = 32 / L;
    constexpr int KEYS_PER_WARP = KEYS_PER_PASS * U;
    constexpr int KEYS_PER_ITER = KEYS_PER_WARP * W;
    __shared__ float warpMax[W][G];
    __shared__ float warpSumExp[W][G];
    __shared__ float warpAcc[W][G][HD];

    long token = blockIdx.x;
    int kvHead = blockIdx.y;
    int split = blockIdx.z;
    int group = numHeads / numKvHeads;  // <= G
    // oldKeysReady (a step where every token is its sequence's only new one): the keys before a token's own were
    // all written by earlier steps, and so were positions, tokenSeq and the block tables (copied from the host before
    // the step); only the token's own key (numKeys - 1, written by this step's RoPE/KV write) and q are not. Then
    // the page-table reads and the first iteration's K/V loads go out before the wait, while the kernels ahead
    // still run. In that iteration, rows that would be the own key's read key numKeys - 2 instead (so no load before
    // the wait touches the row being written, and keys past a split's end, which multiply a probability of 0, stay
    // finite); after the wait the lanes of the own key (one key slot of one warp, in one pass) load it through L2
    // (__ldcg) into their buffer: the same bits, in the same order, as a launch that waits first. Later iterations
    // load after the wait as usual. The first token (no older key) waits first.
    if (!oldKeysReady) pdlWait();
    if (skipToken != nullptr && skipToken[token] != 0) return;
    int numKeys = positions[token] + 1;
    bool early = oldKeysReady && numKeys > 1;
    if (oldKeysReady && !early) pdlWait();
    int chunk = splitChunk(numKeys, numSplits);
    int begin = split * chunk;
    long firstPart = (token * numHeads + kvHead * group) * numSplits + split;  // head h: firstPart + h·numSplits
    __shared__ float ctaMax[CLUSTER > 0 ? G : 1], ctaSum[CLUSTER > 0 ? G : 1];
    __shared__ float ctaAcc[CLUSTER > 0 ? G : 1][HD];
    if (begin >= numKeys) {
        if (early) pdlWait();
        if constexpr (CLUSTER > 0) {  // a split past the context: no keys, but it takes part in the merge
            if (threadIdx.x < group) ctaMax[threadIdx.x] = -CUDART_INF_F;
            mergeCluster<HD, G, CLUSTER>(ctaMax, ctaSum, ctaAcc, group, out + (token * numHeads + kvHead * group) * HD);
            return;
        }
        if (threadIdx.x < group) {  // a split past the context: a neutral state
            partMax[firstPart + threadIdx.x * numSplits] = -CUDART_INF_F;
            partSum[firstPart + threadIdx.x * numSplits] = 0.0f;
        }
        return;
    }
    int end = min(numKeys, begin + chunk);
    int earlyEnd = early && end == numKeys ? numKeys - 1 : end;  // keys loaded early stop short of the own key
    // ROPE (1-token steps): q comes from ropeGroup, after the wait, and the split holding the own key writes it first
    __shared__ __align__(16) float ropeQ[ROPE ? G : 1][ROPE ? HD : 1];  // loadGroupQuery reads it by float4
    __shared__ float ropeCos[ROPE ? HD / 2 : 1], ropeSin[ROPE ? HD / 2 : 1];
    __shared__ float ropeScratch[ROPE ? W : 1][ROPE ? HD : 1];
    if constexpr (ROPE) {
        if (!early) ropeGroup<HD, G, W>(rope, ropeQ, ropeCos, ropeSin, ropeScratch, kvHead, group, numHeads, numKvHeads,
                                        end == numKeys);
    }
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int sub = lane & (L - 1);  // which 8 dims of the key this lane holds
    int keySlot = lane / L;    // which key of a pass
    bool holdsDims = sub < SplitShape<HD, G>::DIM_LANES;
    // lanes past the head's dims (head dims 48, 96) load a neighbour's 16 bytes: their query is 0, and
    // writeSplitState ignores their accumulators
    int loadSub = min(sub, SplitShape<HD, G>::DIM_LANES - 1);

    const int* table = blockTables + (long)tokenSeq[token] * maxPagesPerSeq;
    int numIters = (end - begin + KEYS_PER_ITER - 1) / KEYS_PER_ITER;
    int firstKey = begin + warp * KEYS_PER_WARP + keySlot;  // key of pass 0 in iteration 0
    const uint4* kVectors = reinterpret_cast<const uint4*>(kCache);
    const uint4* vVectors = reinterpret_cast<const uint4*>(vCache);
    int rows[U];  // the rows of the iteration whose loads go out next
    uint4 kA[U], vA[U], kB[U], vB[U];
    bool valid[U];
    keyVectors<HD, U>(rows, firstKey, KEYS_PER_PASS, earlyEnd, table, pageSize, pageShift, numKvHeads, kvHead);
    loadKeys<U, ROPE>(kA, vA, rows, kVectors, vVectors, loadSub);
    keyVectors<HD, U>(rows, firstKey + KEYS_PER_ITER, KEYS_PER_PASS, end, table, pageSize, pageShift, numKvHeads, kvHead);
    if (early) {
        int ownPass = -1, ownRow[1];  // the pass of A in which this lane meets the own key, if it does
        int rel = numKeys - 1 - begin;
        if (earlyEnd < end && rel < KEYS_PER_ITER && rel / KEYS_PER_WARP == warp && rel % KEYS_PER_PASS == keySlot) {
            ownPass = rel % KEYS_PER_WARP / KEYS_PER_PASS;
            keyVectors<HD, 1>(ownRow, numKeys - 1, 0, numKeys, table, pageSize, pageShift, numKvHeads, kvHead);
        }
        pdlWait();
        if constexpr (ROPE) {
            ropeGroup<HD, G, W>(rope, ropeQ, ropeCos, ropeSin, ropeScratch, kvHead, group, numHeads, numKvHeads,
                                end == numKeys);
        }
        if (ownPass >= 0) placeOwnKey<U>(kA, vA, ownPass, kVectors, vVectors, ownRow[0] + loadSub);
    }

    float qReg[G][8];
    loadGroupQuery<HD, G>(qReg, ROPE ? &ropeQ[0][0] : q + (token * numHeads + kvHead * group) * HD, group, sub, holdsDims,
                          scale);
    float runMax[G], runSum[G], acc[G][8];
    clearSoftmaxState<G>(runMax, runSum, acc);

    // A holds iteration it, B iteration it + 1 (past the split's end: the row of its last key, invalid)
    for (int it = 0; it < numIters; it += 2) {
        loadKeys<U, ROPE>(kB, vB, rows, kVectors, vVectors, loadSub);
        keyVectors<HD, U>(rows, firstKey + (it + 2) * KEYS_PER_ITER, KEYS_PER_PASS, end, table, pageSize, pageShift,
                          numKvHeads, kvHead);
        validKeys<U>(valid, firstKey + it * KEYS_PER_ITER, KEYS_PER_PASS, end);
        attendKeys<G, U, L, true, TRANSPOSED>(kA, vA, valid, qReg, runMax, runSum, acc);
        if (it + 1 >= numIters) break;
        loadKeys<U, ROPE>(kA, vA, rows, kVectors, vVectors, loadSub);
        keyVectors<HD, U>(rows, firstKey + (it + 3) * KEYS_PER_ITER, KEYS_PER_PASS, end, table, pageSize, pageShift,
                          numKvHeads, kvHead);
        validKeys<U>(valid, firstKey + (it + 1) * KEYS_PER_ITER, KEYS_PER_PASS, end);
        attendKeys<G, U, L, true, TRANSPOSED>(kB, vB, valid, qReg, runMax, runSum, acc);
    }
    if constexpr (CLUSTER > 0) {
        shareWarpStates<HD, G, L, W>(runMax, runSum, acc, warpMax, warpSumExp, warpAcc, group, sub, keySlot, warp);
        for (int idx = threadIdx.x; idx < group * HD; idx += blockDim.x) {  // the CTA's state, as writeSplitState's
            int h = idx / HD;
            int d = idx % HD;
            float m, sum, value;
            mergeWarpStates<HD, G, W>(warpMax, warpSumExp, warpAcc, h, d, m, sum, value);
            ctaAcc[h][d] = value;
            if (d == 0) {
                ctaMax[h] = m;
                ctaSum[h] = sum;
            }
        }
        mergeCluster<HD, G, CLUSTER>(ctaMax, ctaSum, ctaAcc, group, out + (token * numHeads + kvHead * group) * HD);
    } else if constexpr (FUSED) {
        // the only split holding keys writes out itself; otherwise the last split to finish merges them all
        int numUsed = splitsHoldingKeys(numKeys, numSplits);
        bf16* outRows = out + (token * numHeads + kvHead * group) * HD;
        writeSplitState<HD, G, L, W>(runMax, runSum, acc, warpMax, warpSumExp, warpAcc, group, sub, keySlot, warp,
                                     partMax, partSum, partAcc, firstPart, numSplits, numUsed == 1 ? outRows : nullptr);
        if (numUsed > 1) {
            mergeIfLastSplit<HD, G>(partMax, partSum, partAcc, firstPart - split, numSplits, numUsed, group,
                                    counters + token * numKvHeads + kvHead, outRows);
        }
    } else {
        writeSplitState<HD, G, L, W>(runMax, runSum, acc, warpMax, warpSumExp, warpAcc, group, sub, keySlot, warp,
                                     partMax, partSum, partAcc, firstPart, numSplits);
    }
}

// ---------------------------------------------------------------------------------------------------
// V3 on tensor cores (shape suffix m: paged_attention_v3_hd{64,128}_g{G}_w{W}u1b{B}s{STAGES}m): the same grid, splits,
// partial states and merges as V3, but each warp takes 16 keys an iteration through mma.sync m16n8k16 (bf16 in,
// float32 accumulation), so that a key costs a few instructions rather than V3's ~70 (V3 is bound by its instruction
// latency, not by HBM: ncu at (1, 32k) on the 8B layer, 61% of issue slots busy with 2 warps a scheduler).
//   Scores: S^T (16 keys × 8 heads) = K (16 keys × HD) · Q^T, the group's heads in the 8 columns (0 past the group).
//   Values: O^T (HD × 8 heads) += V^T (HD × 16 keys) · P^T, P^T being S^T's probabilities moved from the
//   accumulator layout to the operand layout by movmatrix (an 8 × 8 transpose inside the warp).
// Each warp copies its 16 K and V rows by cp.async into its own tiles of a ring of STAGES iterations (whole rows an
// instruction, as V3 reads them), and takes its fragments by ldmatrix (.trans for V^T). Q and P are rounded to bf16
// (K and V are bf16 already). Decode steps copy their first iterations before the wait, as V3 loads them.

// The 8 × 8 b16 matrix whose row lane / 4, columns 2(lane % 4) and + 1, this lane holds: its transpose, alike.
__device__ __forceinline__ uint32_t transpose8x8(uint32_t x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
    uint32_t y;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
#else
    __trap();  // mma.sync needs sm_80 anyway
    return x;
#endif
}

template <int HD, int G, int W, int STAGES, bool FUSED>
__device__ __forceinline__ void pagedAttentionMma(
        const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
        const int* __restrict__ positions, const int* __restrict__ tokenSeq, const int* __restrict__ blockTables,
        int maxPagesPerSeq, int pageSize, int pageShift, int numHeads, int numKvHeads, int numSplits, float scale,
        float* __restrict__ partMax, float* __restrict__ partSum, float* __restrict__ partAcc,
        const int* __restrict__ skipToken, bf16* __restrict__ out, int* __restrict__ counters, int oldKeysReady) {
    static_assert(HD == 64 || HD == 128, "tensor-core decode attention: head dim 64 or 128");
    static_assert(G <= 8 && STAGES >= 2, "8 heads a tile; a ring of 2 stages at least");
    constexpr int STRIDE = HD + 8;                 // +8: rows 16 bytes apart in banks, no ldmatrix conflicts
    constexpr int ROW_VECTORS = HD / 8;            // 16-byte vectors of a row
    constexpr int ROWS_PER_COPY = 32 / ROW_VECTORS;
    constexpr int KEYS_PER_ITER = 16 * W;
    constexpr int TILE = 16 * STRIDE;              // one warp's K (or V) tile, bf16 elements
    __shared__ float warpMax[W][G];
    __shared__ float warpSumExp[W][G];
    __shared__ float warpAcc[W][G][HD];

    // The ring: iteration it sits in slot it % STAGES, and the slot is refilled with iteration it + STAGES as soon as
    // its reads are done, so that STAGES - 1 iterations are in flight while one is computed.
    // oldKeysReady: as pagedAttentionV3, the page-table reads and the copies of the first STAGES iterations go
    // out before the wait, the token's own key (written by this step's RoPE/KV write) excepted: its row is skipped
    // then and loaded after the wait; rows past the split's end copy key numKeys - 2 instead (finite, and unused).
    if (!oldKeysReady) pdlWait();
    long token = blockIdx.x;
    int kvHead = blockIdx.y;
    int split = blockIdx.z;
    int group = numHeads / numKvHeads;  // <= G
    if (skipToken != nullptr && skipToken[token] != 0) return;
    int numKeys = positions[token] + 1;
    bool early = oldKeysReady && numKeys > 1;
    if (oldKeysReady && !early) pdlWait();
    int chunk = splitChunk(numKeys, numSplits);
    int begin = split * chunk;
    long firstPart = (token * numHeads + kvHead * group) * numSplits + split;  // head h: firstPart + h·numSplits
    if (begin >= numKeys) {
        if (early) pdlWait();
        if (threadIdx.x < group) {  // a split past the context: a neutral state
            partMax[firstPart + threadIdx.x * numSplits] = -CUDART_INF_F;
            partSum[firstPart + threadIdx.x * numSplits] = 0.0f;
        }
        return;
    }
    int end = min(numKeys, begin + chunk);
    int earlyEnd = early && end == numKeys ? numKeys - 1 : end;  // copies before the wait stop short of the own key
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int g = lane >> 2;
    int t = lane & 3;
    const int* table = blockTables + (long)tokenSeq[token] * maxPagesPerSeq;
    const uint4* kVectors = reinterpret_cast<const uint4*>(kCache);
    const uint4* vVectors = reinterpret_cast<const uint4*>(vCache);
    int numIters = (end - begin + KEYS_PER_ITER - 1) / KEYS_PER_ITER;
    int firstKey = begin + warp * 16;  // tile row 0 of iteration 0

    extern __shared__ __align__(16) bf16 kvTiles[];  // [STAGES][W][K, V][16][STRIDE]
    bf16* warpTiles = kvTiles + warp * 2 * TILE;
    constexpr int STAGE_ELEMENTS = W * 2 * TILE;
    int ownTile = -1, ownVector = 0;  // where this lane's share of the own key goes after the wait, if it skipped it
    auto issue = [&](int iteration, int stage, bool beforeWait) {
        int tileKey = firstKey + iteration * KEYS_PER_ITER;
        bf16* kTile = warpTiles + stage * STAGE_ELEMENTS;
        int vector = lane % ROW_VECTORS;
        int last = (beforeWait ? earlyEnd : end) - 1;  // past it: its row, finite and unused
#pragma unroll
        for (int c = 0; c < 16 / ROWS_PER_COPY; c++) {
            int row = c * ROWS_PER_COPY + lane / ROW_VECTORS;
            int key = min(tileKey + row, last);
            int page = pageShift >= 0 ? key >> pageShift : key / pageSize;
            int slot = __ldg(table + page) * pageSize + (key - page * pageSize);
            int first = (slot * numKvHeads + kvHead) * ROW_VECTORS;
            if (beforeWait && tileKey + row == numKeys - 1) {  // the own key: not written yet
                int ownKey = numKeys - 1;
                int ownPage = pageShift >= 0 ? ownKey >> pageShift : ownKey / pageSize;
                int ownSlot = __ldg(table + ownPage) * pageSize + (ownKey - ownPage * pageSize);
                ownTile = stage * STAGE_ELEMENTS + row * STRIDE + vector * 8;
                ownVector = (ownSlot * numKvHeads + kvHead) * ROW_VECTORS + vector;
                continue;
            }
            copyAsync16(kTile + row * STRIDE + vector * 8, kVectors + first + vector, 16);
            copyAsync16(kTile + TILE + row * STRIDE + vector * 8, vVectors + first + vector, 16);
        }
    };
#pragma unroll
    for (int s = 0; s < STAGES; s++) {
        if (s < numIters) issue(s, s, early);
        copyAsyncCommit();  // one group per iteration, empty past the split's end, so the waits count alike
    }
    if (early) {
        pdlWait();
        if (ownTile >= 0) {  // through L2: the RoPE/KV write's bits, visible after the wait (L1 may hold none)
            *reinterpret_cast<uint4*>(warpTiles + ownTile) = __ldcg(kVectors + ownVector);
            *reinterpret_cast<uint4*>(warpTiles + ownTile + TILE) = __ldcg(vVectors + ownVector);
        }
    }

    // Q^T operand of k-step s: head g's dims 16s + 2t, + 1 and 16s + 2t + 8, + 9, in log2 units; 0 past the group
    uint32_t qB[HD / 16][2];
    {
        const float qScale = scale * 1.4426950408889634f;
        const float* qHead = q + (token * numHeads + kvHead * group + g) * HD;
#pragma unroll
        for (int s = 0; s < HD / 16; s++) {
            float2 a = make_float2(0.0f, 0.0f), b = a;
            if (g < group) {
                a = *reinterpret_cast<const float2*>(qHead + 16 * s + 2 * t);
                b = *reinterpret_cast<const float2*>(qHead + 16 * s + 2 * t + 8);
            }
            qB[s][0] = packBf16(a.x * qScale, a.y * qScale);
            qB[s][1] = packBf16(b.x * qScale, b.y * qScale);
        }
    }
    // this lane's heads 2t, 2t + 1: running max (the same in the 8 lanes of a t), its own keys' share of the sum,
    // and O^T's dims 16i + g (acc[i][0], [1]) and 16i + g + 8 ([2], [3])
    float runMax[2] = {-CUDART_INF_F, -CUDART_INF_F};
    float runSum[2] = {0.0f, 0.0f};
    float acc[HD / 16][4];
#pragma unroll
    for (int i = 0; i < HD / 16; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;

    int stage = 0;  // iteration it's slot of the ring
    for (int it = 0; it < numIters; it++) {
        copyAsyncWait<STAGES - 1>();  // this lane's share of iteration it has landed
        __syncwarp();                 // and every lane's
        const bf16* kTile = warpTiles + stage * STAGE_ELEMENTS;
        const bf16* vTile = kTile + TILE;
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // S^T: (key g, heads 2t, 2t + 1), (key g + 8, ...)
#pragma unroll
        for (int k = 0; k < HD / 16; k++) {
            uint32_t a[4];
            ldmatrixX4(a, kTile + (lane & 15) * STRIDE + k * 16 + (lane >> 4) * 8);
            mmaBf16(s, a, qB[k][0], qB[k][1]);
        }
        int tileKey = firstKey + it * KEYS_PER_ITER;
        if (tileKey + g >= end) s[0] = s[1] = -CUDART_INF_F;
        if (tileKey + g + 8 >= end) s[2] = s[3] = -CUDART_INF_F;
        float m[2] = {fmaxf(s[0], s[2]), fmaxf(s[1], s[3])};
#pragma unroll
        for (int e = 0; e < 2; e++) {
#pragma unroll
            for (int offset = 4; offset < 32; offset <<= 1) m[e] = fmaxf(m[e], __shfl_xor_sync(0xffffffffu, m[e], offset));
        }
        // the running max moves only when a score passes it by RESCALE_SLACK (as V3's lazy rescale)
        bool moves0 = m[0] > runMax[0] + RESCALE_SLACK, moves1 = m[1] > runMax[1] + RESCALE_SLACK;
        if (__any_sync(0xffffffffu, moves0 || moves1)) {
            float c0 = moves0 ? exp2f(runMax[0] - m[0]) : 1.0f;  // 0 on the first key
            float c1 = moves1 ? exp2f(runMax[1] - m[1]) : 1.0f;
            if (moves0) runMax[0] = m[0];
            if (moves1) runMax[1] = m[1];
            runSum[0] *= c0;
            runSum[1] *= c1;
#pragma unroll
            for (int i = 0; i < HD / 16; i++) {
                acc[i][0] *= c0;
                acc[i][2] *= c0;
                acc[i][1] *= c1;
                acc[i][3] *= c1;
            }
        }
        float base0 = runMax[0] == -CUDART_INF_F ? 0.0f : runMax[0];  // no key yet: p = 0, not NaN
        float base1 = runMax[1] == -CUDART_INF_F ? 0.0f : runMax[1];
        float p0 = exp2f(s[0] - base0), p1 = exp2f(s[1] - base1), p2 = exp2f(s[2] - base0), p3 = exp2f(s[3] - base1);
        runSum[0] += p0 + p2;
        runSum[1] += p1 + p3;
        uint32_t pB0 = transpose8x8(packBf16(p0, p1));  // P^T rows (keys) 2t, 2t + 1 of head g
        uint32_t pB1 = transpose8x8(packBf16(p2, p3));  // keys 2t + 8, 2t + 9
        int vKey = (lane & 7) + ((lane >> 4) << 3);      // ldmatrix.trans rows: keys 0-7, 0-7, 8-15, 8-15
        int vDim = ((lane >> 3) & 1) * 8;                // at dims + 0, + 8, + 0, + 8
#pragma unroll
        for (int i = 0; i < HD / 16; i++) {
            uint32_t a[4];
            ldmatrixX4Trans(a, vTile + vKey * STRIDE + i * 16 + vDim);
            mmaBf16(acc[i], a, pB0, pB1);
        }
        __syncwarp();  // every lane's reads of this slot are done before the copy below refills it
        if (it + STAGES < numIters) issue(it + STAGES, stage, false);
        copyAsyncCommit();
        stage = stage + 1 == STAGES ? 0 : stage + 1;
    }

    // the warp's state in shared memory, as shareWarpStates leaves V3's: the sums over the 8 lanes of a t
#pragma unroll
    for (int e = 0; e < 2; e++) {
#pragma unroll
        for (int offset = 4; offset < 32; offset <<= 1) runSum[e] += __shfl_xor_sync(0xffffffffu, runSum[e], offset);
    }
#pragma unroll
    for (int e = 0; e < 2; e++) {
        int h = 2 * t + e;
        if (h < group) {
            if (g == 0) {
                warpMax[warp][h] = runMax[e];
                warpSumExp[warp][h] = runSum[e];
            }
#pragma unroll
            for (int i = 0; i < HD / 16; i++) {
                warpAcc[warp][h][16 * i + g] = acc[i][e];
                warpAcc[warp][h][16 * i + g + 8] = acc[i][2 + e];
            }
        }
    }
    __syncthreads();
    if constexpr (FUSED) {
        int numUsed = splitsHoldingKeys(numKeys, numSplits);
        bf16* outRows = out + (token * numHeads + kvHead * group) * HD;
        writeSharedStates<HD, G, W>(warpMax, warpSumExp, warpAcc, group, partMax, partSum, partAcc, firstPart, numSplits,
                                    numUsed == 1 ? outRows : nullptr);
        if (numUsed > 1) {
            mergeIfLastSplit<HD, G>(partMax, partSum, partAcc, firstPart - split, numSplits, numUsed, group,
                                    counters + token * numKvHeads + kvHead, outRows);
        }
    } else {
        writeSharedStates<HD, G, W>(warpMax, warpSumExp, warpAcc, group, partMax, partSum, partAcc, firstPart, numSplits,
                                    nullptr);
    }
}

#define PAGED_ATTENTION_V3_ENTRY(HD, G, W, U, B, TRANSPOSED, FUSED, SUFFIX) \
    PAGED_ATTENTION_V3_CLUSTER_ENTRY(HD, G, W, U, B, TRANSPOSED, FUSED, 0, SUFFIX)
#define PAGED_ATTENTION_V3_CLUSTER_ENTRY(HD, G, W, U, B, TRANSPOSED, FUSED, CLUSTER, SUFFIX)                \
    extern "C" __global__ void __launch_bounds__(W * 32, G >= 8 ? (B + 1) / 2 : (G == 1 && W * B <= 8 ? 2 * B : B)) \
            paged_attention_v3_hd##HD##_g##G##_w##W##u##U##b##B##SUFFIX(                                        \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* tokenSeq,  \
            const int* blockTables, int maxPagesPerSeq, int pageSize, int pageShift, int numHeads,              \
            int numKvHeads, int numSplits, float scale, float* partMax, float* partSum, float* partAcc,         \
            const int* skipToken, bf16* out, int* counters, int oldKeysReady) {                                 \
        pdlTrigger();                                                                                           \
        pagedAttentionV3<HD, G, W, U, TRANSPOSED, FUSED, CLUSTER>(q, kCache, vCache, positions, tokenSeq,       \
                                                  blockTables,                                                  \
                                                  maxPagesPerSeq, pageSize, pageShift, numHeads, numKvHeads,    \
                                                  numSplits, scale, partMax, partSum, partAcc, skipToken, out,  \
                                                  counters, oldKeysReady);                                      \
    }
// The default cluster kernel applying a 1-token step's q/k norm and RoPE itself (ROPE; _rope): V3's arguments (q
// unused), then RopeInputs' (kCacheOut, vCacheOut: kCache and vCache again).
#define PAGED_ATTENTION_V3_ROPE_ENTRY(HD, G)                                                                     \
    extern "C" __global__ void __launch_bounds__(4 * 32, G >= 8 ? 1 : (G == 1 ? 4 : 2))                          \
            paged_attention_v3_hd##HD##_g##G##_w4u4b2_cluster16_rope(                                           \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* tokenSeq,  \
            const int* blockTables, int maxPagesPerSeq, int pageSize, int pageShift, int numHeads,              \
            int numKvHeads, int numSplits, float scale, float* partMax, float* partSum, float* partAcc,         \
            const int* skipToken, bf16* out, int* counters, int oldKeysReady, const float* qkv,                 \
            const float* bias, const bf16* qNormWeight, const bf16* kNormWeight, const float2* angles,          \
            const int* slotMapping, bf16* kCacheOut, bf16* vCacheOut, float eps) {                             \
        pdlTrigger();                                                                                           \
        pagedAttentionV3<HD, G, 4, 4, false, false, 16, true>(q, kCache, vCache, positions, tokenSeq,           \
                blockTables, maxPagesPerSeq, pageSize, pageShift, numHeads, numKvHeads, numSplits, scale,       \
                partMax, partSum, partAcc, skipToken, out, counters, oldKeysReady,                              \
                RopeInputs{qkv, bias, qNormWeight, kNormWeight, angles, slotMapping, kCacheOut, vCacheOut, eps}); \
    }
PAGED_ATTENTION_V3_ROPE_ENTRY(64, 1)
PAGED_ATTENTION_V3_ROPE_ENTRY(64, 2)
PAGED_ATTENTION_V3_ROPE_ENTRY(64, 4)
PAGED_ATTENTION_V3_ROPE_ENTRY(64, 8)
PAGED_ATTENTION_V3_ROPE_ENTRY(128, 1)
PAGED_ATTENTION_V3_ROPE_ENTRY(128, 2)
PAGED_ATTENTION_V3_ROPE_ENTRY(128, 4)
PAGED_ATTENTION_V3_ROPE_ENTRY(128, 8)

// The knobs PagedAttentionKernel.V3_SHAPES names (keep the two lists equal): warps, passes, min CTAs per SM,
// and the transposed score sums (name suffix t; a no-op for group 1 and for groups wider than a key's lanes).
// Each comes twice: as is, and fused (suffix _fused: merges its splits into out itself). Separate instantiations,
// not a runtime branch, so that the unfused kernels keep their registers and residency (the merge code, though it
// runs after the key loop, moved the allocator to 146 registers from 128 for group 1: 3 CTAs per SM, not 4). Group 1
// at 4 warps × 2 asks for 4 CTAs per SM (128 registers), as the allocator chose before the early loads (which took
// it to 148 otherwise). The default shape comes once more in clusters of 16 (suffix _cluster16: mergeCluster).
#define PAGED_ATTENTION_V3_SHAPES(HD, G)                           \
    PAGED_ATTENTION_V3_ENTRY(HD, G, 4, 4, 2, false, false, )       \
    PAGED_ATTENTION_V3_ENTRY(HD, G, 8, 2, 2, false, false, )       \
    PAGED_ATTENTION_V3_ENTRY(HD, G, 4, 4, 2, true, false, t)       \
    PAGED_ATTENTION_V3_ENTRY(HD, G, 4, 4, 2, false, true, _fused)  \
    PAGED_ATTENTION_V3_ENTRY(HD, G, 8, 2, 2, false, true, _fused)  \
    PAGED_ATTENTION_V3_ENTRY(HD, G, 4, 4, 2, true, true, t_fused)  \
    PAGED_ATTENTION_V3_CLUSTER_ENTRY(HD, G, 4, 4, 2, false, false, 16, _cluster16)
// Tensor cores (pagedAttentionMma): head dims 64 and 128, 4 warps, 2 CTAs per SM, a ring of 3 iterations (96 KB at
// head dim 128); PagedAttentionKernel.V3Shape names it W4U1B2S3M (the passes knob means nothing to it).
#define PAGED_ATTENTION_MMA_ENTRY(HD, G, W, B, STAGES, FUSED, SUFFIX)                                          \
    extern "C" __global__ void __launch_bounds__(W * 32, B)                                                    \
            paged_attention_v3_hd##HD##_g##G##_w##W##u1b##B##s##STAGES##m##SUFFIX(                             \
            const float* q, const bf16* kCache, const bf16* vCache, const int* positions, const int* tokenSeq,  \
            const int* blockTables, int maxPagesPerSeq, int pageSize, int pageShift, int numHeads,              \
            int numKvHeads, int numSplits, float scale, float* partMax, float* partSum, float* partAcc,         \
            const int* skipToken, bf16* out, int* counters, int oldKeysReady) {                                 \
        pdlTrigger();                                                                                           \
        pagedAttentionMma<HD, G, W, STAGES, FUSED>(q, kCache, vCache, positions, tokenSeq, blockTables,         \
                                                   maxPagesPerSeq, pageSize, pageShift, numHeads, numKvHeads,   \
                                                   numSplits, scale, partMax, partSum, partAcc, skipToken, out, \
                                                   counters, oldKeysReady);                                     \
    }
#define PAGED_ATTENTION_MMA_SHAPES(HD, G)                  \
    PAGED_ATTENTION_MMA_ENTRY(HD, G, 4, 2, 3, false, )     \
    PAGED_ATTENTION_MMA_ENTRY(HD, G, 4, 2, 3, true, _fused)
#define PAGED_ATTENTION_MMA_GROUPS(HD) \
    PAGED_ATTENTION_MMA_SHAPES(HD, 1)  \
    PAGED_ATTENTION_MMA_SHAPES(HD, 2)  \
    PAGED_ATTENTION_MMA_SHAPES(HD, 4)  \
    PAGED_ATTENTION_MMA_SHAPES(HD, 8)
PAGED_ATTENTION_MMA_GROUPS(64)
PAGED_ATTENTION_MMA_GROUPS(128)

#define PAGED_ATTENTION_V3_GROUPS(HD) \
    PAGED_ATTENTION_V3_SHAPES(HD, 1)  \
    PAGED_ATTENTION_V3_SHAPES(HD, 2)  \
    PAGED_ATTENTION_V3_SHAPES(HD, 4)  \
    PAGED_ATTENTION_V3_SHAPES(HD, 8)

PAGED_ATTENTION_V3_GROUPS(32)
PAGED_ATTENTION_V3_GROUPS(48)
PAGED_ATTENTION_V3_GROUPS(64)
PAGED_ATTENTION_V3_GROUPS(96)
PAGED_ATTENTION_V3_GROUPS(128)

// Merges the packed partial states of paged_attention_split_* and paged_attention_v3_* (not fused):
// out (numTokens, numHeads, headDim) bf16. The splits that hold keys are the first
// ceil(numKeys / splitChunk(numKeys, numSplits)), as the kernel split them. Tokens with a nonzero skipToken entry
// (may be null) are left alone. grid (numTokens, numHeads), block headDim rounded up to whole warps (the shuffles
// need every lane of a warp present). mergeSplitStates keeps 16 loads in flight per thread: at batch 1 a few dozen
// CTAs each read up to 64+ splits, and with 4 per round the round trips to L2, not bandwidth, set this kernel's time.
extern "C" __global__ void attention_reduce_split(const float* __restrict__ partMax, const float* __restrict__ partSum,
                                                  const float* __restrict__ partAcc, const int* __restrict__ positions,
                                                  int numHeads, int headDim, int numSplits, bf16* __restrict__ out, const int* __restrict__ skipToken) {
    pdlGate();
    long token = blockIdx.x;
    if (skipToken != nullptr && skipToken[token] != 0) return;
    int head = blockIdx.y;
    int numUsed = splitsHoldingKeys(positions[token] + 1, numSplits);
    mergeSplitStates<1>(partMax, partSum, partAcc, (token * numHeads + head) * numSplits, numSplits, numUsed, 1, headDim,
                        out + (token * numHeads + head) * headDim);
}
