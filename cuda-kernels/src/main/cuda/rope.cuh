// RoPE helpers shared by rope.cu's kernels and the decode attention that applies a 1-token step's q/k norm and RoPE
// itself (paged_attention.cu): the same code, so the same bits.
#pragma once
#include "common.cuh"

// Where feature i of a q or k head is stored (RopePairOrder): pair (i, i + headDim/2) side by side.
__device__ __forceinline__ int pairOrderIndex(int i, int headDim) {
    const int half = headDim >> 1;
    return i < half ? 2 * i : 2 * (i - half) + 1;
}

constexpr int ROPE_V2_MAX_WARPS = 8;

// x's square, and x rotated by (c, s) against its rotate-half partner (x·c - partner·s in the first half of a head,
// x·c + partner·s in the second), each product rounded before the add: no FMA contraction, which the compiler decides
// per call site, so that every kernel inlining them (rope.cu's, the clustered attention's ROPE) gets the same bits.
__device__ __forceinline__ float ropeSquare(float x) { return __fmul_rn(x, x); }

__device__ __forceinline__ float ropeRotate(float x, float partner, float c, float s, bool firstHalf) {
    float xc = __fmul_rn(x, c);
    float ps = __fmul_rn(partner, s);
    return firstHalf ? __fsub_rn(xc, ps) : __fadd_rn(xc, ps);
}

template <int E>
__device__ __forceinline__ void ropeLoadHead(const float* row, int head, int lane, int numHeads, int headDim,
                                             int qDim, int kvDim, float (&x)[E], float (&v)[E]) {
    bool isQuery = head < numHeads;
    int colBase = isQuery ? head * headDim : qDim + (head - numHeads) * headDim;
#pragma unroll
    for (int k = 0; k < E; k++) {
        int i = lane + 32 * k;
        x[k] = i < headDim ? row[colBase + pairOrderIndex(i, headDim)] : 0.0f;
        v[k] = !isQuery && i < headDim ? row[colBase + kvDim + i] : 0.0f;
    }
}

template <int E>
__device__ __forceinline__ void ropeHead(float (&x)[E], const float (&v)[E], float* rotateBuf,
                                         const float* cosTable, const float* sinTable,
                                         const float* __restrict__ bias, const bf16* __restrict__ qNormWeight,
                                         const bf16* __restrict__ kNormWeight, float* __restrict__ qRow,
                                         bf16* __restrict__ kCache, bf16* __restrict__ vCache, int slot,
                                         int head, int lane, int numHeads, int numKvHeads, int headDim, float eps) {
    bool isQuery = head < numHeads;
    int kvHead = head - numHeads;
    int qDim = numHeads * headDim;
    int kvDim = numKvHeads * headDim;
    int colBase = isQuery ? head * headDim : qDim + kvHead * headDim;
#pragma unroll
    for (int k = 0; k < E; k++) {
        int i = lane + 32 * k;
        x[k] = i < headDim ? x[k] + (bias != nullptr ? bias[colBase + pairOrderIndex(i, headDim)] : 0.0f) : 0.0f;
    }
    const bf16* normWeight = isQuery ? qNormWeight : kNormWeight;
    if (normWeight != nullptr) {  // uniform across the warp
        // v1's warp 0: lane k holds the sum of "warp" k. v1 kept lane 0's copy of each sum (partial[warp],
        // partial[0]); so do we, in case the compiler fuses x * x into the butterfly's first add, which
        // would leave the lanes' copies a rounding apart.
        float t = 0.0f;
#pragma unroll
        for (int k = 0; k < E; k++) {
            float partial = __shfl_sync(0xffffffffu, warpSum(ropeSquare(x[k])), 0);
            if (lane == k) t = partial;
        }
        float inv = rsqrtf(__shfl_sync(0xffffffffu, warpSum(t), 0) / headDim + eps);
#pragma unroll
        for (int k = 0; k < E; k++) {
            int i = lane + 32 * k;
            x[k] = i < headDim ? x[k] * inv * toFloat(normWeight[i]) : 0.0f;
        }
    }
#pragma unroll
    for (int k = 0; k < E; k++) rotateBuf[lane + 32 * k] = x[k];
    __syncwarp();
    int half = headDim / 2;
#pragma unroll
    for (int k = 0; k < E; k++) {
        int i = lane + 32 * k;
        if (i >= headDim) continue;
        int pair = i < half ? i : i - half;
        float c = cosTable[pair];
        float s = sinTable[pair];
        float xi = x[k];
        float rotated = ropeRotate(xi, rotateBuf[i < half ? i + half : i - half], c, s, i < half);
        if (isQuery) {
            qRow[i] = rotated;
        } else {
            int vCol = qDim + kvDim + kvHead * headDim + i;
            float vi = v[k] + (bias != nullptr ? bias[vCol] : 0.0f);
            long offset = ((long)slot * numKvHeads + kvHead) * headDim + i;
            kCache[offset] = toBf16(rotated);
            vCache[offset] = toBf16(vi);
        }
    }
    __syncwarp();  // the next head overwrites rotateBuf
}

