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

// Each thread's partial sums of the CTA's OPW output rows for x rows [0, rows), ROWS ≥ rows: acc[o · ROWS + r]
// gathers the thread's share of output row firstOut + o · outStride (outStride 1: OPW consecutive rows) and
// x row r. x4 holds the x rows as 16-byte chunks, in global memory or (X_SHARED) in shared memory.
template <int ROWS, int OPW, int UNROLL, bool X_SHARED>
__device__ __forceinline__ void gemvAccumulate(const uint4* x4, const bf16* __restrict__ w, int firstOut,
                                               int outStride, int rows, int in, int out, float (&acc)[OPW * ROWS]) {
    const int numChunks = in >> 3;  // 16-byte chunks per row
    const uint4* wRow[OPW];  // (numChunks) 16-byte chunks each
    int xRow[ROWS];  // first chunk of each x row: 32-bit offsets save registers (x is at most 8 · in)
#pragma unroll
    for (int o = 0; o < OPW; o++) {
        // rows past the end (out not a multiple of OPW) re-read the last row; their sums are not written
        wRow[o] = reinterpret_cast<const uint4*>(w) + (long)min(firstOut + o * outStride, out - 1) * numChunks;
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        xRow[r] = min(r, rows - 1) * numChunks;  // padding rows re-read the last real row, not written
    }
#pragma unroll
    for (int i = 0; i < OPW * ROWS; i++) acc[i] = 0.0f;

    for (int base = threadIdx.x; base < numChunks; base += GEMV_BLOCK * UNROLL) {
        uint4 wv[UNROLL][OPW];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int c = base + u * GEMV_BLOCK;
#pragma unroll
            for (int o = 0; o < OPW; o++) wv[u][o] = c < numChunks ? loadWeights(wRow[o] + c) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int c = base + u * GEMV_BLOCK;
            if (c >= numChunks) break;  // the same for the rest of u; the weights there are zeros anyway
#pragma unroll
            for (int r = 0; r < ROWS; r++) {
                float xf[8];
                if constexpr (X_SHARED) {
                    unpack8(x4[xRow[r] + c], xf);
                } else {
                    unpack8(__ldg(x4 + xRow[r] + c), xf);
                }
#pragma unroll
                for (int o = 0; o < OPW; o++) acc[o * ROWS + r] = dot8(wv[u][o], xf, acc[o * ROWS + r]);
            }
        }
    }
}

// Reduces every thread's N partial sums over the CTA: afterwards (a barrier is included) value i's total is
// ctaTotal(partial, i), the sum over warps of partial[warp][i].
template <int N>
__device__ __forceinline__ void reducePartials(float (&acc)[N], float (&partial)[GEMV_WARPS][N]) {
    constexpr int GROUP = 32 / N;  // lanes that hold the same value after the transposing reduction
    const float sum = transposingWarpSum<N>(acc);
    const int lane = threadIdx.x & 31;
    if (lane % GROUP == 0) partial[threadIdx.x >> 5][lane / GROUP] = sum;
    __syncthreads();
}

template <int N>
__device__ __forceinline__ float ctaTotal(const float (&partial)[GEMV_WARPS][N], int i) {
    float total = 0.0f;
#pragma unroll
    for (int warp = 0; warp < GEMV_WARPS; warp++) total += partial[warp][i];
    return total;
}

// One CTA: output rows [blockIdx.x · OPW, + OPW) for x rows [0, rows), ROWS ≥ rows.
template <int ROWS, int OPW, int UNROLL>
__device__ __forceinline__ void gemvTile(const bf16* __restrict__ x, const bf16* __restrict__ w,
                                         float* __restrict__ y, int rows, int in, int out) {
    constexpr int N = OPW * ROWS;  // partial sums per thread, value o · ROWS + r
    const int firstOut = blockIdx.x * OPW;
    float acc[N];
    gemvAccumulate<ROWS, OPW, UNROLL, false>(reinterpret_cast<const uint4*>(x), w, firstOut, 1, rows, in, out, acc);
    __shared__ float partial[GEMV_WARPS][N];
    reducePartials<N>(acc, partial);
    if (threadIdx.x < N) {
        const float total = ctaTotal<N>(partial, threadIdx.x);
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

// The fused 1-row path of a decode step of one token (FusedGemvKernel): the small kernels around the linear
// layers (residual add, RMSNorm, SwiGLU) cost a launch and several µs of latency each at batch 1, so they
// move into the GEMVs' prologues and epilogues. Same tile as gemv_rows1 (2 output rows per CTA, 4 chunks
// unrolled), so every dot product is summed in the same order as gemv_rows1's.
constexpr int FUSED_OPW = 2;
constexpr int FUSED_UNROLL = 4;

// Asks L2 for the weights of the CTA's first loop iteration (UNROLL chunks of each of its OPW rows per thread:
// all of them when in ≤ 8 · GEMV_BLOCK · UNROLL, e.g. hidden 4096) before the norm prologue, which waits on
// L2 and on two barriers: HBM keeps streaming meanwhile, and gemvAccumulate's loads then hit L2. A prefetch
// has no effect on results; the addresses are those gemvAccumulate reads, so within the matrix.
template <int OPW, int UNROLL>
__device__ __forceinline__ void prefetchWeightsToL2(const bf16* w, int firstOut, int outStride, int in, int out) {
    const int numChunks = in >> 3;
#pragma unroll
    for (int o = 0; o < OPW; o++) {
        const uint4* row = reinterpret_cast<const uint4*>(w) + (long)min(firstOut + o * outStride, out - 1) * numChunks;
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int c = threadIdx.x + u * GEMV_BLOCK;
            if (c < numChunks) asm volatile("prefetch.global.L2 [%0];" : : "l"(row + c));
        }
    }
}

// xShared (in) bf16 = residual (in) f32 / rms(residual) · weight (in) bf16: fused_add_rms_norm_vec4's formula
// and rounding (delta null; only the order of the sum of squares differs). Every CTA recomputes the sum
// over the whole row: 4 · in bytes, from L2 for an SM's first CTA and from L1 for the others, against the
// in · 2 · FUSED_OPW bytes of weights the CTA streams from HBM. in % 4 == 0, residual and weight 8-byte aligned.
__device__ __forceinline__ void rmsNormToShared(const float* __restrict__ residual, const bf16* __restrict__ weight,
                                                uint2* xShared, int in, float eps) {
    const float4* row = reinterpret_cast<const float4*>(residual);
    const int numVec = in >> 2;
    float sumSquares = 0.0f;
    for (int i = threadIdx.x; i < numVec; i += GEMV_BLOCK) {
        const float4 x = row[i];
        sumSquares += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
    }
    const float inv = rsqrtf(blockSum(sumSquares) / in + eps);
    const uint2* w = reinterpret_cast<const uint2*>(weight);
    for (int i = threadIdx.x; i < numVec; i += GEMV_BLOCK) {
        const float4 x = row[i];  // again, from L1: keeping in / 512 float4 per thread in registers would cost occupancy
        uint2 wBits = w[i];
        __nv_bfloat162 w01 = *reinterpret_cast<__nv_bfloat162*>(&wBits.x);
        __nv_bfloat162 w23 = *reinterpret_cast<__nv_bfloat162*>(&wBits.y);
        __nv_bfloat162 o01 = __floats2bfloat162_rn(x.x * inv * __low2float(w01), x.y * inv * __high2float(w01));
        __nv_bfloat162 o23 = __floats2bfloat162_rn(x.z * inv * __low2float(w23), x.w * inv * __high2float(w23));
        uint2 bits;
        bits.x = *reinterpret_cast<uint32_t*>(&o01);
        bits.y = *reinterpret_cast<uint32_t*>(&o23);
        xShared[i] = bits;
    }
    __syncthreads();  // the dot products read chunks other threads wrote
}

// y (out) f32 = rmsnorm(residual) · weight · wᵀ: input norm + q/k/v projection of one token.
// Dynamic shared memory: 2 · in bytes (the normed row).
extern "C" __global__ void __launch_bounds__(GEMV_BLOCK, 3)
gemv_norm_rows1(const float* __restrict__ residual, const bf16* __restrict__ normWeight, const bf16* __restrict__ w,
                float* __restrict__ y, int in, int out, float eps) {
    extern __shared__ uint4 normedX[];  // (in / 8) chunks of 8 bf16
    const int firstOut = blockIdx.x * FUSED_OPW;
    prefetchWeightsToL2<FUSED_OPW, FUSED_UNROLL>(w, firstOut, 1, in, out);
    rmsNormToShared(residual, normWeight, reinterpret_cast<uint2*>(normedX), in, eps);
    float acc[FUSED_OPW];
    gemvAccumulate<1, FUSED_OPW, FUSED_UNROLL, true>(normedX, w, firstOut, 1, 1, in, out, acc);
    __shared__ float partial[GEMV_WARPS][FUSED_OPW];
    reducePartials<FUSED_OPW>(acc, partial);
    if (threadIdx.x < FUSED_OPW && firstOut + threadIdx.x < out) y[firstOut + threadIdx.x] = ctaTotal(partial, threadIdx.x);
}

// act (intermediate) bf16 = silu(gate) · up where (gate, up) = rmsnorm(residual) · weight · wᵀ and w
// (2 · intermediate, in) holds the gate rows then the up rows: post-attention norm + gate/up projection +
// SwiGLU of one token. CTA j owns gate row j and up row intermediate + j, so both sums meet in one thread
// and the f32 gate/up row never goes to memory; silu_mul's formula and rounding. grid (intermediate);
// dynamic shared memory: 2 · in bytes.
extern "C" __global__ void __launch_bounds__(GEMV_BLOCK, 3)
gemv_norm_swiglu_rows1(const float* __restrict__ residual, const bf16* __restrict__ normWeight,
                       const bf16* __restrict__ w, bf16* __restrict__ act, int in, int intermediate, float eps) {
    extern __shared__ uint4 normedX[];  // (in / 8) chunks of 8 bf16
    const int j = blockIdx.x;
    prefetchWeightsToL2<FUSED_OPW, FUSED_UNROLL>(w, j, intermediate, in, 2 * intermediate);
    rmsNormToShared(residual, normWeight, reinterpret_cast<uint2*>(normedX), in, eps);
    float acc[FUSED_OPW];  // gate, up
    gemvAccumulate<1, FUSED_OPW, FUSED_UNROLL, true>(normedX, w, j, intermediate, 1, in, 2 * intermediate, acc);
    __shared__ float partial[GEMV_WARPS][FUSED_OPW];
    reducePartials<FUSED_OPW>(acc, partial);
    if (threadIdx.x == 0) {
        const float gate = ctaTotal(partial, 0);
        const float up = ctaTotal(partial, 1);
        act[j] = toBf16(gate / (1.0f + expf(-gate)) * up);
    }
}

// y (out) f32 += x (in) bf16 · wᵀ: the o and down projections of one token, added straight into the residual
// stream (each output is owned by one thread of one CTA: a plain read-modify-write, no race).
extern "C" __global__ void __launch_bounds__(GEMV_BLOCK, 3)
gemv_add_rows1(const bf16* __restrict__ x, const bf16* __restrict__ w, float* __restrict__ y, int in, int out) {
    const int firstOut = blockIdx.x * FUSED_OPW;
    float acc[FUSED_OPW];
    gemvAccumulate<1, FUSED_OPW, FUSED_UNROLL, false>(reinterpret_cast<const uint4*>(x), w, firstOut, 1, 1, in, out, acc);
    __shared__ float partial[GEMV_WARPS][FUSED_OPW];
    reducePartials<FUSED_OPW>(acc, partial);
    if (threadIdx.x < FUSED_OPW && firstOut + threadIdx.x < out) y[firstOut + threadIdx.x] += ctaTotal(partial, threadIdx.x);
}
