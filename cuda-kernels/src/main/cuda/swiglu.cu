#include "common.cuh"

// out (numTokens, intermediate) bf16 = silu(gate) * up, where gateUp (numTokens, 2 * intermediate)
// float32 holds gate then up (one fused projection). grid covers numTokens * intermediate.
// The first kernel (v1): kept for -Dradixlm.elementwise.v1=true and for intermediate % 4 != 0.
extern "C" __global__ void silu_mul(const float* __restrict__ gateUp, bf16* __restrict__ out,
                                    int numTokens, int intermediate) {
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)numTokens * intermediate) return;
    long row = idx / intermediate;
    long col = idx % intermediate;
    float gate = gateUp[row * 2 * intermediate + col];
    float up = gateUp[row * 2 * intermediate + intermediate + col];
    out[idx] = toBf16(siluMul(gate, up));
}

// The same result, four columns a thread: float4 loads of gate and up, one 8-byte store of four bf16.
// intermediate % 4 == 0 and 16-byte aligned buffers (the launcher checks). No 64-bit division: x picks
// the column quad (grid.x * blockDim.x >= intermediate / 4), y strides over the rows.
// grid (ceil(intermediate / 4 / blockDim.x), min(numTokens, 65535)).
extern "C" __global__ void silu_mul_vec4(const float* __restrict__ gateUp, bf16* __restrict__ out,
                                         int numTokens, int intermediate) {
    pdlGate();
    int numQuads = intermediate >> 2;
    int quad = blockIdx.x * blockDim.x + threadIdx.x;
    if (quad >= numQuads) return;
    for (long row = blockIdx.y; row < numTokens; row += gridDim.y) {
        const float4* gateRow = reinterpret_cast<const float4*>(gateUp + row * 2 * intermediate);
        float4 gate = __ldcs(gateRow + quad);             // streamed: read once, keep L2 for the weights
        float4 up = __ldcs(gateRow + numQuads + quad);
        __nv_bfloat162 lo = __halves2bfloat162(toBf16(siluMul(gate.x, up.x)), toBf16(siluMul(gate.y, up.y)));
        __nv_bfloat162 hi = __halves2bfloat162(toBf16(siluMul(gate.z, up.z)), toBf16(siluMul(gate.w, up.w)));
        uint2 packed;
        packed.x = *reinterpret_cast<uint32_t*>(&lo);
        packed.y = *reinterpret_cast<uint32_t*>(&hi);
        reinterpret_cast<uint2*>(out + row * intermediate)[quad] = packed;
    }
}
