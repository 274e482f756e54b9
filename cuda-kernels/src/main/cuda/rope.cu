#include "common.cuh"
#include "rope.cuh"

// After the fused q/k/v projection: adds the bias (qwen2), applies per-head RMSNorm to q and k
// (qwen3), rotates q and k (HF rotate-half: pair (i, i + headDim/2)), and writes k and v into
// their KV slots through the slot mapping. One launch instead of four.
//
// qkv          (numTokens, qDim + 2 * kvDim) float32, q then k then v; within a q or k head the features are in
//              pair order (RopePairOrder: stored 2i is feature i, 2i + 1 is feature i + headDim/2), as the projection
//              rows were uploaded; qOut and the K cache get HF's order
// bias         (qDim + 2 * kvDim) float32 in the same order, or null
// positions    (numTokens), slotMapping (numTokens)
// invFreq      (headDim / 2) float64: angles are position * invFreq[i], computed in double so that
//              positions in the thousands keep their accuracy
// qNormWeight, kNormWeight (headDim) bf16, or null
// qOut         (numTokens, numHeads, headDim) float32
// kCache, vCache (numSlots, numKvHeads, headDim) bf16 of this layer
// grid (numTokens, numHeads + numKvHeads), block headDim rounded up to a multiple of 32 (at most 256);
// threads past headDim only take part in the reductions.

extern "C" __global__ void rope_qk_norm_kv_write(const float* __restrict__ qkv, const float* __restrict__ bias,
                                                 const int* __restrict__ positions, const int* __restrict__ slotMapping,
                                                 const double* __restrict__ invFreq,
                                                 const bf16* __restrict__ qNormWeight, const bf16* __restrict__ kNormWeight,
                                                 float* __restrict__ qOut, bf16* __restrict__ kCache, bf16* __restrict__ vCache,
                                                 int numHeads, int numKvHeads, int headDim, float eps) {
    __shared__ float rotateBuf[256];
    long token = blockIdx.x;
    int head = blockIdx.y;
    int i = threadIdx.x;
    bool active = i < headDim;
    bool isQuery = head < numHeads;
    int kvHead = head - numHeads;
    int qDim = numHeads * headDim;
    int kvDim = numKvHeads * headDim;
    const float* row = qkv + token * (qDim + 2 * kvDim);

    int col = (isQuery ? head * headDim : qDim + kvHead * headDim) + pairOrderIndex(i, headDim);
    float x = active ? row[col] + (bias != nullptr ? bias[col] : 0.0f) : 0.0f;
    const bf16* normWeight = isQuery ? qNormWeight : kNormWeight;
    if (normWeight != nullptr) {  // uniform across the block, so blockSum is safe
        float inv = rsqrtf(blockSum(ropeSquare(x)) / headDim + eps);
        x = active ? x * inv * toFloat(normWeight[i]) : 0.0f;
    }
    rotateBuf[i] = x;
    __syncthreads();
    if (!active) return;

    int half = headDim / 2;
    int pair = i < half ? i : i - half;
    double s, c;
    sincos((double)positions[token] * invFreq[pair], &s, &c);
    float rotated = ropeRotate(x, rotateBuf[i < half ? i + half : i - half], (float)c, (float)s, i < half);
    if (isQuery) {
        qOut[token * qDim + head * headDim + i] = rotated;
    } else {
        int vCol = qDim + kvDim + kvHead * headDim + i;
        float v = row[vCol] + (bias != nullptr ? bias[vCol] : 0.0f);
        long offset = ((long)slotMapping[token] * numKvHeads + kvHead) * headDim + i;
        kCache[offset] = toBf16(rotated);
        vCache[offset] = toBf16(v);
    }
}

// ---------------------------------------------------------------------------------------------------
// v2: the same results bit for bit, built for many tokens. A block takes one token and a range of its
// heads (all of them in a long prefill), a warp per head at a time. Why it is faster:
// - the angles depend on (token, pair) only, so the block computes each double sincos once into shared
//   memory instead of once per element of every head (40x fewer on the 8B shape);
// - a warp issues the loads of its next head before it computes the current one, and the first loads
//   before the sincos, so more bytes are in flight than the one float per thread of v1.
// Lane l holds elements l + 32k (k < E = ceil(headDim / 32)): element i sits in the lane and "warp" k
// where v1 kept it, so the q/k norm reproduces v1's blockSum exactly: one butterfly per k, then a
// butterfly over lanes holding the E partial sums (zeros elsewhere), as v1's warp 0 did.
// grid (numTokens, ceil((numHeads + numKvHeads) / headsPerCta)), block 32 * numWarps (at most 256).
template <int E>
__device__ __forceinline__ void ropeQkNormKvWriteV2(const float* __restrict__ qkv, const float* __restrict__ bias,
                                                    const int* __restrict__ positions, const int* __restrict__ slotMapping,
                                                    const double* __restrict__ invFreq,
                                                    const bf16* __restrict__ qNormWeight, const bf16* __restrict__ kNormWeight,
                                                    float* __restrict__ qOut, bf16* __restrict__ kCache, bf16* __restrict__ vCache,
                                                    int numHeads, int numKvHeads, int headDim, int headsPerCta, float eps,
                                                    const float2* __restrict__ angles) {
    __shared__ float cosTable[128];  // (headDim / 2) angles of this token, rounded to float as v1 does
    __shared__ float sinTable[128];
    __shared__ float rotateBuf[ROPE_V2_MAX_WARPS][32 * E];
    long token = blockIdx.x;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int numWarps = blockDim.x >> 5;
    int qDim = numHeads * headDim;
    int kvDim = numKvHeads * headDim;
    int headEnd = min(((int)blockIdx.y + 1) * headsPerCta, numHeads + numKvHeads);
    const float* row = qkv + token * (qDim + 2 * kvDim);

    int head = (int)blockIdx.y * headsPerCta + warp;
    float x[E], v[E];
    if (head < headEnd) ropeLoadHead<E>(row, head, lane, numHeads, headDim, qDim, kvDim, x, v);
    int slot = slotMapping[token];
    if (angles != nullptr) {  // a 1-token step's angles, from rope_angles: the same float roundings of the same sincos
        for (int p = threadIdx.x; p < headDim / 2; p += blockDim.x) {
            float2 a = angles[p];
            cosTable[p] = a.x;
            sinTable[p] = a.y;
        }
    } else {
        int position = positions[token];
        for (int p = threadIdx.x; p < headDim / 2; p += blockDim.x) {
            double s, c;
            sincos((double)position * invFreq[p], &s, &c);
            cosTable[p] = (float)c;
            sinTable[p] = (float)s;
        }
    }
    __syncthreads();
    for (; head < headEnd; head += numWarps) {
        float nextX[E], nextV[E];
        if (head + numWarps < headEnd) {
            ropeLoadHead<E>(row, head + numWarps, lane, numHeads, headDim, qDim, kvDim, nextX, nextV);
        }
        ropeHead<E>(x, v, rotateBuf[warp], cosTable, sinTable, bias, qNormWeight, kNormWeight,
                    head < numHeads ? qOut + token * qDim + head * headDim : nullptr, kCache, vCache, slot, head, lane, numHeads, numKvHeads, headDim, eps);
#pragma unroll
        for (int k = 0; k < E; k++) {
            x[k] = nextX[k];
            v[k] = nextV[k];
        }
    }
}

// One entry point per E = ceil(headDim / 32) (headDim even, at most 256): rope_qk_norm_kv_write_v2_e<E>.
// angles: null, or (one-token launches) the token's (cos, sin) pairs from rope_angles, which spares each CTA the
// double sincos after its wait.
#define ROPE_V2_KERNEL(E)                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * ROPE_V2_MAX_WARPS) rope_qk_norm_kv_write_v2_e##E(                 \
        const float* __restrict__ qkv, const float* __restrict__ bias, const int* __restrict__ positions,             \
        const int* __restrict__ slotMapping, const double* __restrict__ invFreq,                                      \
        const bf16* __restrict__ qNormWeight, const bf16* __restrict__ kNormWeight, float* __restrict__ qOut,         \
        bf16* __restrict__ kCache, bf16* __restrict__ vCache, int numHeads, int numKvHeads, int headDim,              \
        int headsPerCta, float eps, const float2* __restrict__ angles) {                                              \
        pdlGate();                                                                                                    \
        ropeQkNormKvWriteV2<E>(qkv, bias, positions, slotMapping, invFreq, qNormWeight, kNormWeight, qOut, kCache,    \
                               vCache, numHeads, numKvHeads, headDim, headsPerCta, eps, angles);                      \
    }
ROPE_V2_KERNEL(1)
ROPE_V2_KERNEL(2)
ROPE_V2_KERNEL(3)
ROPE_V2_KERNEL(4)
ROPE_V2_KERNEL(5)
ROPE_V2_KERNEL(6)
ROPE_V2_KERNEL(7)
ROPE_V2_KERNEL(8)

// The (cos, sin) of a single token's RoPE angles, once per decode step for every layer's fused qkv GEMV
// (gemv_norm_rope_rows1): the angle in double and rounded to float as the kernels above do it, so that the
// fused path rotates by the same numbers, and no CTA of the GEMV spends its short life on a double sincos.
// angles (headDim / 2) float2; grid 1, block ≥ 32.
extern "C" __global__ void rope_angles(const int* __restrict__ positions, const double* __restrict__ invFreq,
                                       float2* __restrict__ angles, int half) {
    pdlGate();
    const double position = (double)positions[0];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        double s, c;
        sincos(position * invFreq[i], &s, &c);
        angles[i] = make_float2((float)c, (float)s);
    }
}
