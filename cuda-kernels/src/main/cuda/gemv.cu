#include "common.cuh"

// y (rows, out) f32 = x (rows, in) bf16 · w (out, in) bf16ᵀ for the few rows of a decode step (rows ≤ 8).
// At such sizes a linear layer is a stream over its weights: every byte is used once per x row, so the
// kernel is built to keep HBM busy rather than to reuse data:
// - a CTA of GEMV_BLOCK threads owns OPW consecutive output rows and splits the input dimension across
//   all its threads: thread t reads 16-byte chunks t, t + GEMV_BLOCK, ... of each of the OPW weight rows,
//   so a warp reads 512 contiguous bytes per load and even a 2048×2048 matrix gives 128 threads per
//   output row (the grid is out / OPW CTAs: thousands for every shape that matters);
// - UNROLL · OPW independent 16-byte weight loads are issued before any arithmetic (128 bytes in flight
//   per thread), with L1::no_allocate since each byte is read once;
// - x stays bf16 in global memory and is read through L1 (it is small and every CTA reads all of it),
//   converted to f32 in registers once per chunk and reused by the OPW weight rows;
// - f32 accumulation; partial sums are reduced with a transposing warp reduction (OPW · ROWS values in
//   OPW · ROWS − 1 shuffles instead of 5 each), then across the CTA's warps in shared memory.
// in must be a multiple of 8 and x, w 16-byte aligned (GemvKernel checks; other shapes go to cuBLAS).

constexpr int GEMV_BLOCK = 128;
constexpr int GEMV_WARPS = GEMV_BLOCK / 32;

// 16 bytes of weights, read once: keep them out of L1 so that x stays there. volatile: the load sits
// behind a bounds check, and a non-volatile asm counts as free of side effects, which would let the
// compiler hoist it past the check (and read beyond the matrix).
__device__ __forceinline__ uint4 loadWeights(const uint4* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

// The two bf16 of a 32-bit word as float32 (a bf16 is the top half of a float32): element 2k is the low half.
__device__ __forceinline__ float lowBf16(uint32_t word) { return __uint_as_float(word << 16); }
__device__ __forceinline__ float highBf16(uint32_t word) { return __uint_as_float(word & 0xffff0000u); }

__device__ __forceinline__ void unpack8(uint4 chunk, float (&out)[8]) {
    out[0] = lowBf16(chunk.x); out[1] = highBf16(chunk.x);
    out[2] = lowBf16(chunk.y); out[3] = highBf16(chunk.y);
    out[4] = lowBf16(chunk.z); out[5] = highBf16(chunk.z);
    out[6] = lowBf16(chunk.w); out[7] = highBf16(chunk.w);
}

__device__ __forceinline__ float dot8(uint4 w, const float (&x)[8], float acc) {
    acc = fmaf(lowBf16(w.x), x[0], acc); acc = fmaf(highBf16(w.x), x[1], acc);
    acc = fmaf(lowBf16(w.y), x[2], acc); acc = fmaf(highBf16(w.y), x[3], acc);
    acc = fmaf(lowBf16(w.z), x[4], acc); acc = fmaf(highBf16(w.z), x[5], acc);
    acc = fmaf(lowBf16(w.w), x[6], acc); acc = fmaf(highBf16(w.w), x[7], acc);
    return acc;
}

// Sums each of the N values over the warp (N a power of two ≤ 32). Each step exchanges half of the
// remaining values with the partner lane, so lanes end up holding different sums: the result is the
// warp's total of value lane / (32 / N) (every lane of a group of 32 / N consecutive lanes holds it).
template <int N>
__device__ __forceinline__ float transposingWarpSum(float (&v)[N]) {
    static_assert(N >= 1 && N <= 32 && (N & (N - 1)) == 0, "N must be a power of two up to 32");
    const int lane = threadIdx.x & 31;
    // constant loop bounds, so that both loops unroll fully and v stays in registers
#pragma unroll
    for (int step = 0; (N >> step) > 1; step++) {
        const int half = (N >> step) / 2;
        const int offset = 16 >> step;
        const bool upper = (lane & offset) != 0;
#pragma unroll
        for (int i = 0; i < N / 2; i++) {
            if (i >= half) break;
            // the lower lane keeps value i and sends i + half; the upper lane keeps i + half (in slot i)
            float send = upper ? v[i] : v[i + half];
            float keep = upper ? v[i + half] : v[i];
            v[i] = keep + __shfl_xor_sync(0xffffffffu, send, offset);
        }
    }
    float sum = v[0];
#pragma unroll
    for (int offset = 16 / N; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    return sum;
}

// UNROLL · OPW 16-byte weight loads of chunks base + u · GEMV_BLOCK (zeros past the row), all issued before use.
template <int UNROLL, int OPW>
__device__ __forceinline__ void loadWeightRound(uint4 (&wv)[UNROLL][OPW], const uint4* const (&wRow)[OPW], int base,
                                                int numChunks) {
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
        const int c = base + u * GEMV_BLOCK;
#pragma unroll
        for (int o = 0; o < OPW; o++) wv[u][o] = c < numChunks ? loadWeights(wRow[o] + c) : make_uint4(0, 0, 0, 0);
    }
}

// One CTA: output rows [blockIdx.x · OPW, + OPW) for x rows [0, rows), ROWS ≥ rows.
template <int ROWS, int OPW, int UNROLL>
__device__ __forceinline__ void gemvTile(const bf16* __restrict__ x, const bf16* __restrict__ w,
                                         float* __restrict__ y, int rows, int in, int out) {
    constexpr int N = OPW * ROWS;  // partial sums per thread, value o · ROWS + r
    const int numChunks = in >> 3;  // 16-byte chunks per row
    const int firstOut = blockIdx.x * OPW;
    const uint4* wRow[OPW];  // (numChunks) 16-byte chunks each
    const uint4* x4 = reinterpret_cast<const uint4*>(x);
    int xRow[ROWS];  // first chunk of each x row: 32-bit offsets save registers (x is at most 8 · in)
#pragma unroll
    for (int o = 0; o < OPW; o++) {
        // rows past the end (out not a multiple of OPW) re-read the last row; their sums are not written
        wRow[o] = reinterpret_cast<const uint4*>(w) + (long)min(firstOut + o, out - 1) * numChunks;
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        xRow[r] = min(r, rows - 1) * numChunks;  // padding rows re-read the last real row, not written
    }
    float acc[N];
#pragma unroll
    for (int i = 0; i < N; i++) acc[i] = 0.0f;

    constexpr int STEP = GEMV_BLOCK * UNROLL;  // chunks per round of loads
    uint4 wv[UNROLL][OPW];
    // The weights depend on no earlier kernel: the first round of loads goes out before pdlWait, so that
    // under programmatic dependent launch it overlaps the tail of the kernel that produces x.
    pdlTrigger();
    loadWeightRound<UNROLL, OPW>(wv, wRow, threadIdx.x, numChunks);
    pdlWait();
    for (int base = threadIdx.x; base < numChunks; base += STEP) {
        if (base != threadIdx.x) loadWeightRound<UNROLL, OPW>(wv, wRow, base, numChunks);
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int c = base + u * GEMV_BLOCK;
            if (c >= numChunks) break;  // the same for the rest of u; the weights there are zeros anyway
#pragma unroll
            for (int r = 0; r < ROWS; r++) {
                float xf[8];
                unpack8(__ldg(x4 + xRow[r] + c), xf);
#pragma unroll
                for (int o = 0; o < OPW; o++) acc[o * ROWS + r] = dot8(wv[u][o], xf, acc[o * ROWS + r]);
            }
        }
    }

    __shared__ float partial[GEMV_WARPS][N];
    constexpr int GROUP = 32 / N;  // lanes that hold the same value after the transposing reduction
    const float sum = transposingWarpSum<N>(acc);
    const int lane = threadIdx.x & 31;
    if (lane % GROUP == 0) partial[threadIdx.x >> 5][lane / GROUP] = sum;
    __syncthreads();
    if (threadIdx.x < N) {
        float total = 0.0f;
#pragma unroll
        for (int warp = 0; warp < GEMV_WARPS; warp++) total += partial[warp][threadIdx.x];
        const int o = threadIdx.x / ROWS;
        const int r = threadIdx.x % ROWS;
        if (r < rows && firstOut + o < out) y[(long)r * out + firstOut + o] = total;
    }
}

// One entry point per row bucket (GemvKernel picks the smallest ROWS ≥ rows). OPW and UNROLL keep 128
// bytes of weights in flight per thread; at least 3 CTAs fit on an SM (gemv_rows8 needs ~155 registers,
// the others ≤ 104), i.e. ≥ 48 KB in flight per SM, well past what HBM latency × bandwidth asks (~26 KB).
#define GEMV_KERNEL(NAME, ROWS, OPW, UNROLL)                                                              \
    extern "C" __global__ void __launch_bounds__(GEMV_BLOCK, 3)                                           \
    NAME(const bf16* __restrict__ x, const bf16* __restrict__ w, float* __restrict__ y, int rows, int in, \
         int out) {                                                                                       \
        gemvTile<ROWS, OPW, UNROLL>(x, w, y, rows, in, out);                                              \
    }

GEMV_KERNEL(gemv_rows1, 1, 2, 4)
GEMV_KERNEL(gemv_rows2, 2, 2, 4)
GEMV_KERNEL(gemv_rows4, 4, 4, 2)
GEMV_KERNEL(gemv_rows8, 8, 4, 2)

