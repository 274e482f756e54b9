#include "common.cuh"

// out (numRows) = index of the largest value of each row of logits (numRows, vocab) float32; the
// lowest index wins a tie, as in the CPU sampler. grid (numRows), block 256.
extern "C" __global__ void argmax_rows(const float* __restrict__ logits, int* __restrict__ out, int vocab) {
    __shared__ float bestValue[256];
    __shared__ int bestIndex[256];
    const float* row = logits + (long)blockIdx.x * vocab;
    float value = -CUDART_INF_F;
    int index = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float x = row[i];
        if (x > value) { value = x; index = i; }  // i rises, so the first maximum stays
    }
    bestValue[threadIdx.x] = value;
    bestIndex[threadIdx.x] = index;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            float other = bestValue[threadIdx.x + stride];
            int otherIndex = bestIndex[threadIdx.x + stride];
            if (other > bestValue[threadIdx.x] || (other == bestValue[threadIdx.x] && otherIndex < bestIndex[threadIdx.x])) {
                bestValue[threadIdx.x] = other;
                bestIndex[threadIdx.x] = otherIndex;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = bestIndex[0] == 0x7fffffff ? 0 : bestIndex[0];
}
