#include "common.cuh"

// out (numTokens, intermediate) bf16 = silu(gate) * up, where gateUp (numTokens, 2 * intermediate)
// float32 holds gate then up (one fused projection). grid covers numTokens * intermediate.
extern "C" __global__ void silu_mul(const float* __restrict__ gateUp, bf16* __restrict__ out,
                                    int numTokens, int intermediate) {
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)numTokens * intermediate) return;
    long row = idx / intermediate;
    long col = idx % intermediate;
    float gate = gateUp[row * 2 * intermediate + col];
    float up = gateUp[row * 2 * intermediate + intermediate + col];
    out[idx] = toBf16(gate / (1.0f + expf(-gate)) * up);
}
