#include "common.cuh"

// residual (numTokens, hidden) float32 += delta (same shape) when delta is not null, then
// out (numTokens, hidden) bf16 = residual / rms(residual) * weight. Fusing the residual add saves a
// pass over the activations and a launch per layer. grid (numTokens), block a multiple of 32.
extern "C" __global__ void fused_add_rms_norm(float* __restrict__ residual, const float* __restrict__ delta,
                                              const bf16* __restrict__ weight, bf16* __restrict__ out,
                                              int hidden, float eps) {
    long base = (long)blockIdx.x * hidden;
    float sumSquares = 0.0f;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        float x = residual[base + i];
        if (delta != nullptr) {
            x += delta[base + i];
            residual[base + i] = x;
        }
        sumSquares += x * x;
    }
    float inv = rsqrtf(blockSum(sumSquares) / hidden + eps);
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        out[base + i] = toBf16(residual[base + i] * inv * toFloat(weight[i]));
    }
}
