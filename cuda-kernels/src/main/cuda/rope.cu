#include "common.cuh"

// After the fused q/k/v projection: adds the bias (qwen2), applies per-head RMSNorm to q and k
// (qwen3), rotates q and k (HF rotate-half layout: pair (i, i + headDim/2)), and writes k and v into
// their KV slots through the slot mapping. One launch instead of four.
//
// qkv          (numTokens, qDim + 2 * kvDim) float32, q then k then v
// bias         (qDim + 2 * kvDim) float32, or null
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

    int col = isQuery ? head * headDim + i : qDim + kvHead * headDim + i;
    float x = active ? row[col] + (bias != nullptr ? bias[col] : 0.0f) : 0.0f;
    const bf16* normWeight = isQuery ? qNormWeight : kNormWeight;
    if (normWeight != nullptr) {  // uniform across the block, so blockSum is safe
        float inv = rsqrtf(blockSum(x * x) / headDim + eps);
        x = active ? x * inv * toFloat(normWeight[i]) : 0.0f;
    }
    rotateBuf[i] = x;
    __syncthreads();
    if (!active) return;

    int half = headDim / 2;
    int pair = i < half ? i : i - half;
    double s, c;
    sincos((double)positions[token] * invFreq[pair], &s, &c);
    float rotated = i < half ? x * (float)c - rotateBuf[i + half] * (float)s
                             : x * (float)c + rotateBuf[i - half] * (float)s;
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
