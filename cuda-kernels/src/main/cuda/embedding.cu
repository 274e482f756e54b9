#include "common.cuh"

// The id of token row: tokenIds[row], or, when that is -1 - r, fedIds[r] (the id the step before sampled in its
// row r; see CudaBackend.forwardSampleAsync). -1 when the id is outside [0, vocab): fedIds holds -1 for logits that
// were not finite.
__device__ __forceinline__ int tokenId(const int* __restrict__ tokenIds, const int* __restrict__ fedIds, long row,
                                       int vocab) {
    int id = tokenIds[row];
    if (id < 0 && fedIds != nullptr) id = fedIds[-1 - id];
    return id >= 0 && id < vocab ? id : -1;
}

// out (numTokens, hidden) float32 = table[id of row] for each row (see tokenId); a row of NaN for an id outside the
// table. table (vocab, hidden) bf16. grid (numTokens), any block size.
extern "C" __global__ void embedding_gather(const bf16* __restrict__ table, const int* __restrict__ tokenIds,
                                            const int* __restrict__ fedIds, float* __restrict__ out, int hidden,
                                            int vocab) {
    long row = blockIdx.x;
    const int id = tokenId(tokenIds, fedIds, row, vocab);
    const bf16* src = table + (long)max(id, 0) * hidden;
    float* dst = out + row * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = id >= 0 ? toFloat(src[i]) : __int_as_float(0x7fc00000);
}

// The same copy (bf16 -> f32 is exact), eight columns a thread: one 16-byte load, two float4 stores.
// hidden % 8 == 0 and 16-byte aligned buffers (the launcher checks). grid (numTokens), any block size.
extern "C" __global__ void embedding_gather_vec8(const bf16* __restrict__ table, const int* __restrict__ tokenIds,
                                                 const int* __restrict__ fedIds, float* __restrict__ out, int hidden,
                                                 int vocab) {
    pdlGate();
    long row = blockIdx.x;
    const int id = tokenId(tokenIds, fedIds, row, vocab);
    const uint4* src = reinterpret_cast<const uint4*>(table + (long)max(id, 0) * hidden);
    float4* dst = reinterpret_cast<float4*>(out + row * hidden);
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
        uint4 packed = id >= 0 ? src[i] : make_uint4(0x7fc07fc0u, 0x7fc07fc0u, 0x7fc07fc0u, 0x7fc07fc0u);
        const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
        float2 a = __bfloat1622float2(pairs[0]);
        float2 b = __bfloat1622float2(pairs[1]);
        float2 c = __bfloat1622float2(pairs[2]);
        float2 d = __bfloat1622float2(pairs[3]);
        dst[2 * i] = make_float4(a.x, a.y, b.x, b.y);
        dst[2 * i + 1] = make_float4(c.x, c.y, d.x, d.y);
    }
}

// out (numRows, width) bf16 = in[rows[r]]; picks the rows whose logits a step returns.
// grid (numRows), any block size.
extern "C" __global__ void gather_rows_bf16(const bf16* __restrict__ in, const int* __restrict__ rows,
                                            bf16* __restrict__ out, int width) {
    pdlGate();
    long r = blockIdx.x;
    const bf16* src = in + (long)rows[r] * width;
    bf16* dst = out + r * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) dst[i] = src[i];
}
