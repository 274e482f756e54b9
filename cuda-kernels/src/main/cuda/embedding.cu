#include "common.cuh"

// out (numTokens, hidden) float32 = table[tokenIds[row]] for each row; table (vocab, hidden) bf16.
// grid (numTokens), any block size.
extern "C" __global__ void embedding_gather(const bf16* __restrict__ table, const int* __restrict__ tokenIds,
                                            float* __restrict__ out, int hidden) {
    long row = blockIdx.x;
    const bf16* src = table + (long)tokenIds[row] * hidden;
    float* dst = out + row * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = toFloat(src[i]);
}

// The same copy (bf16 -> f32 is exact), eight columns a thread: one 16-byte load, two float4 stores.
// hidden % 8 == 0 and 16-byte aligned buffers (the launcher checks). grid (numTokens), any block size.
extern "C" __global__ void embedding_gather_vec8(const bf16* __restrict__ table, const int* __restrict__ tokenIds,
                                                 float* __restrict__ out, int hidden) {
    pdlGate();
    long row = blockIdx.x;
    const uint4* src = reinterpret_cast<const uint4*>(table + (long)tokenIds[row] * hidden);
    float4* dst = reinterpret_cast<float4*>(out + row * hidden);
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
        uint4 packed = src[i];
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
