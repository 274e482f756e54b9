#include "common.cuh"

// Benchmarks need weights of real shapes without weight files (an 8B model is 16 GB): these kernels
// fill a buffer on the GPU with center + uniform(-scale, scale) values from a counter-based hash, so no
// host memory or transfer is involved. Not for sampling: quality is that of splitmix64, plenty here.
__device__ __forceinline__ float uniformAt(unsigned long long seed, long long i) {
    unsigned long long z = seed + (unsigned long long)i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;  // 24 bits -> [-1, 1)
}

// out (n) bf16; a grid-stride loop, so any grid size covers any n.
extern "C" __global__ void fill_uniform_bf16(bf16* __restrict__ out, long long n, unsigned long long seed,
                                             float center, float scale) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        out[i] = toBf16(center + scale * uniformAt(seed, i));
    }
}

// out (n) f32; as fill_uniform_bf16.
extern "C" __global__ void fill_uniform_f32(float* __restrict__ out, long long n, unsigned long long seed,
                                            float center, float scale) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        out[i] = center + scale * uniformAt(seed, i);
    }
}
