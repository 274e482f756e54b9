#include "common.cuh"

// out (numRows) = index of the largest value of each row of logits (numRows, vocab) float32, the lowest
// index on ties (as the CPU sampler), or -1 for a row holding a NaN or an infinity (the sampler refuses
// those rows). Two passes so that a row of a 150k vocabulary is read by many SMs, not one:
// argmax_partial: grid (numRows, numChunks), block ARGMAX_THREADS; block c reduces elements
//   [c·chunk, (c+1)·chunk) of its row to partial[row][c] = {value bits, index} (index -2: non-finite seen,
//   index 0x7fffffff: no element).
// argmax_final: grid (numRows), block 32; merges the numChunks partials of its row.
#define ARGMAX_THREADS 256
#define NO_INDEX 0x7fffffff
#define NON_FINITE (-2)

// The better of two (value, index) pairs: larger value, then lower index; NON_FINITE wins over all.
__device__ __forceinline__ void argmaxMerge(float& value, int& index, float otherValue, int otherIndex) {
    if (index == NON_FINITE) return;
    if (otherIndex == NON_FINITE || otherValue > value || (otherValue == value && otherIndex < index)) {
        value = otherValue;
        index = otherIndex;
    }
}

__device__ __forceinline__ void warpArgmax(float& value, int& index) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        float otherValue = __shfl_xor_sync(0xffffffffu, value, offset);
        int otherIndex = __shfl_xor_sync(0xffffffffu, index, offset);
        argmaxMerge(value, index, otherValue, otherIndex);
    }
}

extern "C" __global__ void __launch_bounds__(ARGMAX_THREADS)
argmax_partial(const float* __restrict__ logits, int2* __restrict__ partial, int vocab, int chunk) {
    pdlGate();
    __shared__ float warpValue[ARGMAX_THREADS / 32];
    __shared__ int warpIndex[ARGMAX_THREADS / 32];
    const float* row = logits + (long)blockIdx.x * vocab;
    int begin = blockIdx.y * chunk;
    int end = min(vocab, begin + chunk);
    float value = -CUDART_INF_F;
    int index = NO_INDEX;
    for (int i = begin + threadIdx.x; i < end; i += ARGMAX_THREADS) {
        float x = row[i];
        if (!isfinite(x)) index = NON_FINITE;
        else if (index != NON_FINITE && x > value) { value = x; index = i; }  // i rises: the first maximum stays
    }
    warpArgmax(value, index);
    int warp = threadIdx.x >> 5;
    if ((threadIdx.x & 31) == 0) {
        warpValue[warp] = value;
        warpIndex[warp] = index;
    }
    __syncthreads();
    if (warp == 0) {
        int lane = threadIdx.x & 31;
        value = lane < ARGMAX_THREADS / 32 ? warpValue[lane] : -CUDART_INF_F;
        index = lane < ARGMAX_THREADS / 32 ? warpIndex[lane] : NO_INDEX;
        warpArgmax(value, index);
        if (lane == 0) partial[(long)blockIdx.x * gridDim.y + blockIdx.y] = make_int2(__float_as_int(value), index);
    }
}

extern "C" __global__ void argmax_final(const int2* __restrict__ partial, int numChunks, int* __restrict__ out) {
    pdlGate();
    float value = -CUDART_INF_F;
    int index = NO_INDEX;
    for (int c = threadIdx.x; c < numChunks; c += 32) {
        int2 p = partial[(long)blockIdx.x * numChunks + c];
        argmaxMerge(value, index, __int_as_float(p.x), p.y);
    }
    warpArgmax(value, index);
    if (threadIdx.x == 0) out[blockIdx.x] = index == NON_FINITE ? -1 : index == NO_INDEX ? 0 : index;
}
