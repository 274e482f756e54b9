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

// out (numRows, width) bf16 = in[rows[r]]; picks the rows whose logits a step returns.
// grid (numRows), any block size.
extern "C" __global__ void gather_rows_bf16(const bf16* __restrict__ in, const int* __restrict__ rows,
                                            bf16* __restrict__ out, int width) {
    long r = blockIdx.x;
    const bf16* src = in + (long)rows[r] * width;
    bf16* dst = out + r * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) dst[i] = src[i];
}
