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

// Two columns of silu(gate) * up from two words of two bf16 each (the lower address is the low half),
// packed back into one word of two bf16.
__device__ __forceinline__ uint32_t siluMulPair(uint32_t gateBits, uint32_t upBits) {
    __nv_bfloat162 gate = *reinterpret_cast<__nv_bfloat162*>(&gateBits);
    __nv_bfloat162 up = *reinterpret_cast<__nv_bfloat162*>(&upBits);
    __nv_bfloat162 r = __halves2bfloat162(toBf16(siluMul(__low2float(gate), __low2float(up))),
                                          toBf16(siluMul(__high2float(gate), __high2float(up))));
    return *reinterpret_cast<uint32_t*>(&r);
}

// As silu_mul for a gate/up projection cuBLAS wrote as bf16 (the prefill's lean path: half the bytes of the
// GEMM's writes and of these reads; transformers' bf16 Linear rounds gate and up the same way):
// gateUp (numTokens, 2 * intermediate) bf16, the same float math on the widened values, so that on the same
// (bf16-representable) inputs it gives silu_mul's bits. The fallback for intermediate % 8 != 0.
// grid covers numTokens * intermediate.
extern "C" __global__ void silu_mul_bf16(const bf16* __restrict__ gateUp, bf16* __restrict__ out,
                                         int numTokens, int intermediate) {
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)numTokens * intermediate) return;
    long row = idx / intermediate;
    long col = idx % intermediate;
    float gate = toFloat(gateUp[row * 2 * intermediate + col]);
    float up = toFloat(gateUp[row * 2 * intermediate + intermediate + col]);
    out[idx] = toBf16(siluMul(gate, up));
}

// silu_mul_bf16, eight columns a thread: one 16-byte load of gate, one of up, one 16-byte store.
// intermediate % 8 == 0 and 16-byte aligned buffers (the launcher checks), so every row of gateUp
// (2 * intermediate bf16) and of out starts 16-byte aligned, as does up (intermediate bf16 into the row).
// As silu_mul_vec4: x picks the column octet, y strides over the rows.
// grid (ceil(intermediate / 8 / blockDim.x), about one wave / grid.x), capped at numTokens and 65535.
extern "C" __global__ void silu_mul_bf16_vec8(const bf16* __restrict__ gateUp, bf16* __restrict__ out,
                                              int numTokens, int intermediate) {
    pdlGate();
    int numOctets = intermediate >> 3;
    int octet = blockIdx.x * blockDim.x + threadIdx.x;
    if (octet >= numOctets) return;
    for (long row = blockIdx.y; row < numTokens; row += gridDim.y) {
        const uint4* gateRow = reinterpret_cast<const uint4*>(gateUp + row * 2 * intermediate);
        uint4 gate = __ldcs(gateRow + octet);             // streamed: read once, keep L2 for the weights
        uint4 up = __ldcs(gateRow + numOctets + octet);
        uint4 packed;
        packed.x = siluMulPair(gate.x, up.x);
        packed.y = siluMulPair(gate.y, up.y);
        packed.z = siluMulPair(gate.z, up.z);
        packed.w = siluMulPair(gate.w, up.w);
        reinterpret_cast<uint4*>(out + row * intermediate)[octet] = packed;
    }
}
