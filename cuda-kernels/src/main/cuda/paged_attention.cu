#include "common.cuh"

// Attention of every new token over its sequence's cached K/V, read through the block table. One
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
