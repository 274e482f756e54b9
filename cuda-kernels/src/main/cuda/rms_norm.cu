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

// As fused_add_rms_norm for hidden % 4 == 0 and hidden <= 4 · RMS_VEC_PER_THREAD · blockDim.x: float4 loads,
// each thread keeps its (at most RMS_VEC_PER_THREAD) float4 pieces in registers between the two passes, so
// a decode step's single row is read once by a wide block instead of looped over by 256 threads.
#define RMS_VEC_PER_THREAD 4
extern "C" __global__ void __launch_bounds__(1024) fused_add_rms_norm_vec4(
        float* __restrict__ residual, const float* __restrict__ delta, const bf16* __restrict__ weight,
        bf16* __restrict__ out, int hidden, float eps) {
    pdlGate();
    long base = (long)blockIdx.x * hidden;
    float4* row = reinterpret_cast<float4*>(residual + base);
    const float4* add = delta != nullptr ? reinterpret_cast<const float4*>(delta + base) : nullptr;
    int numVec = hidden / 4;
    float4 v[RMS_VEC_PER_THREAD];
    float sumSquares = 0.0f;
#pragma unroll
    for (int k = 0; k < RMS_VEC_PER_THREAD; k++) {
        int i = threadIdx.x + k * blockDim.x;
        if (i < numVec) {
            float4 x = row[i];
            if (add != nullptr) {
                float4 d = add[i];
                x.x += d.x;
                x.y += d.y;
                x.z += d.z;
                x.w += d.w;
                row[i] = x;
            }
            v[k] = x;
            sumSquares += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
        }
    }
    float inv = rsqrtf(blockSum(sumSquares) / hidden + eps);
    const uint2* w = reinterpret_cast<const uint2*>(weight);
    uint2* o = reinterpret_cast<uint2*>(out + base);
#pragma unroll
    for (int k = 0; k < RMS_VEC_PER_THREAD; k++) {
        int i = threadIdx.x + k * blockDim.x;
        if (i < numVec) {
            uint2 wBits = w[i];
            __nv_bfloat162 w01 = *reinterpret_cast<__nv_bfloat162*>(&wBits.x);
            __nv_bfloat162 w23 = *reinterpret_cast<__nv_bfloat162*>(&wBits.y);
            __nv_bfloat162 o01 = __floats2bfloat162_rn(v[k].x * inv * __low2float(w01), v[k].y * inv * __high2float(w01));
            __nv_bfloat162 o23 = __floats2bfloat162_rn(v[k].z * inv * __low2float(w23), v[k].w * inv * __high2float(w23));
            uint2 bits;
            bits.x = *reinterpret_cast<uint32_t*>(&o01);
            bits.y = *reinterpret_cast<uint32_t*>(&o23);
            o[i] = bits;
        }
    }
}
