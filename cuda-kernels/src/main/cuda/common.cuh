// Helpers shared by every kernel family. bf16 is the storage type of weights and KV; all arithmetic
// is float32.
#pragma once
#include <cuda_bf16.h>
#include <math_constants.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

// Programmatic dependent launch (CudaDevice.launchesAsDependent, Hopper): a kernel launched that way may start
// while the kernel ahead of it on the stream is still running. pdlTrigger lets the kernel after this one launch
// as soon as every CTA of this one has started; pdlWait blocks until every earlier kernel has completed and its
// writes are visible. A kernel launched as a dependent must reach pdlWait in every CTA before it reads what an
// earlier kernel wrote and before it writes anything. Both are no-ops for plain launches and before sm_90.
__device__ __forceinline__ void pdlTrigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// The opening of a kernel that has nothing to do before its inputs are ready.
__device__ __forceinline__ void pdlGate() {
    pdlTrigger();
    pdlWait();
}

// 16 bytes global -> shared without passing through registers; srcBytes 0 writes zeros instead.
__device__ __forceinline__ void copyAsync16(const void* smem, const void* global, int srcBytes) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(address), "l"(global), "r"(srcBytes));
}

__device__ __forceinline__ void copyAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int N>
__device__ __forceinline__ void copyAsyncWait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory"); }

// Tensor-core fragments (mma.sync m16n8k16, bf16 in, float32 accumulators) and their shared-memory loads.
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (lower address), .y = hi
    return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ void mmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const bf16* smem) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const bf16* smem) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

__device__ __forceinline__ float toFloat(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 toBf16(float x) { return __float2bfloat16_rn(x); }

// silu(gate) * up in float32: the one expression every SwiGLU (swiglu.cu, the fused GEMV in gemv.cu) inlines,
// so that they round alike.
__device__ __forceinline__ float siluMul(float gate, float up) { return gate / (1.0f + expf(-gate)) * up; }

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
