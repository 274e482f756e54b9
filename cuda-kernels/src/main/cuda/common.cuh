// Helpers shared by every kernel family. bf16 is the storage type of weights and KV; all arithmetic
// is float32.
#pragma once
#include <cuda_bf16.h>
#include <math_constants.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float toFloat(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 toBf16(float x) { return __float2bfloat16_rn(x); }

__device__ __forceinline__ float warpSum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum of v over the whole block; every thread gets the result. Safe to call several times in a row.
__device__ __forceinline__ float blockSum(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int numWarps = (blockDim.x + 31) >> 5;
    v = warpSum(v);
    __syncthreads();  // an earlier call may still be reading partial[0]
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < numWarps ? partial[lane] : 0.0f;
        t = warpSum(t);
        if (lane == 0) partial[0] = t;
    }
    __syncthreads();
    return partial[0];
}
