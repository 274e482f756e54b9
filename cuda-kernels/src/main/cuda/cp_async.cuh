// cp.async helpers shared by the kernels that stream K/V pages through shared memory (prefill_attention,
// paged_attention's fused decode kernel). sm_80 and later.
#pragma once
#include "common.cuh"

// 16 bytes global -> shared without passing through registers; srcBytes 0 writes zeros instead.
__device__ __forceinline__ void copyAsync16(bf16* smem, const bf16* global, int srcBytes) {
    uint32_t address = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(address), "l"(global), "r"(srcBytes));
}

__device__ __forceinline__ void copyAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void copyAsyncWait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory"); }
