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
template <int UNROLL, int OPW, int BLOCK = GEMV_BLOCK>
__device__ __forceinline__ void loadWeightRound(uint4 (&wv)[UNROLL][OPW], const uint4* const (&wRow)[OPW], int base,
                                                int numChunks) {
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
        const int c = base + u * BLOCK;
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


// ---------------------------------------------------------------------------------------------------
// The fused 1-row GEMVs of a decode step at batch 1 (CudaBackend's fused decode path). Each folds into
// the GEMV the small kernel that would otherwise run before or after it, so that a layer is six serial
// kernels instead of ten; the weight stream, which is what the time is spent on, is the same as in
// gemv_rows1 (2 output rows a CTA, 4 rounds of loads in flight, the first before pdlWait).
// - Input NORM_IN: x is RMSNorm(residual) · normWeight, but the norm's scale is not known before the CTA
//   has read all of x. The CTA computes Σ w·(residual·normWeight) and Σ residual² in the same pass (every
//   thread sees its own chunks, the CTA all of them once) and scales its two sums by rsqrt(mean + eps) at
//   the end. So no CTA waits on a norm prologue (what made the second session's fused GEMVs lose 18% of
//   bandwidth), and x is never rounded to bf16: the result differs from norm-then-GEMV by that rounding.
// - Epilogues: STORE y (f32); RESIDUAL residual += y (+ bias): the residual add of the next norm, race-free
//   since each output row belongs to one CTA; SWIGLU: the CTA's two rows are gate row p and up row p, it
//   writes act[p] = silu(gate)·up (bf16); ROPE: the two rows 2p, 2p + 1 are a rotate-half pair (i, i + headDim/2)
//   of a q or k head (their rows are uploaded in RopePairOrder), rotated and written to q (f32) or the K page in
//   HF's order; v rows come in consecutive pairs and go to the V page. The q/k norm of qwen3 spans a whole head, so such models keep the separate RoPE kernel.
// Output rows past `out` (STORE, RESIDUAL with odd out) re-read the last row and are not written.

enum GemvEpilogue { EPI_STORE = 0, EPI_RESIDUAL = 1, EPI_SWIGLU = 2, EPI_ROPE = 3 };

struct FusedGemvArgs {
    const bf16* x;            // (in) bf16: the input when not normIn
    const float* residual;    // (in) f32: the residual stream, the input when normIn
    const bf16* normWeight;   // (in) bf16, normIn only
    float eps;
    float* y;                 // STORE: (out) f32
    float* residualOut;       // RESIDUAL: (out) f32, updated in place (out == in of the next layer)
    const float* bias;        // RESIDUAL, ROPE: (out) f32 or null
    bf16* act;                // SWIGLU: (out / 2) bf16
    const float2* angles;     // ROPE: (headDim / 2) (cos, sin) of the token's angles (rope_angles)
    const int* slotMapping;   // ROPE: its KV slot (element 0)
    float* qOut;              // ROPE: (numHeads · headDim) f32
    bf16* kCache;             // ROPE: (numSlots, numKvHeads, headDim) bf16
    bf16* vCache;
    int numHeads, numKvHeads, headDim;
};

// Rows a CTA of a fused GEMV takes (OPW, 2 4 or 8) and, with them, the rounds of 16-byte loads in flight per thread
// (UNROLL = 8 / OPW), so that a thread always has 8 loads, 128 bytes, in flight. OPW 2 suits rows of 4,096 inputs and
// more; shorter rows (2,048 or 1,024 inputs: one round at UNROLL 2 or 1) take 4 or 8 rows a CTA, so that each CTA reads
// its input vector (and, with NORM_IN, the residual and norm weights: 12 bytes an input) once for 4 or 8 rows instead
// of 2, and the grid has 2 or 4 times fewer CTAs.
// What CTA p's epilogue thread k needs besides the sums, loaded right after pdlWait so that the loads overlap the
// weight stream instead of lengthening the end of a short-lived CTA. Thread k finalizes output k of the CTA: row k
// (STORE, RESIDUAL), act p·OPW/2 + k (SWIGLU: gate slot k, up slot k + OPW/2) or rotate pair p·OPW/2 + k (ROPE:
// slots 2k, 2k + 1).
struct EpilogueInputs {
    float bias0, bias1;        // RESIDUAL: the row's bias (bias0); ROPE: the pair's two biases (0 without one)
    float residual0;           // RESIDUAL: the row's residual
    float c, s;                // ROPE: the rotation of the pair
    long slotBase;             // ROPE: first element of the token's KV slot
};

// The weight row of output slot o (0 .. OPW - 1) of CTA p.
template <int EPI, int OPW>
__device__ __forceinline__ int fusedRow(int p, int o, int out, const FusedGemvArgs& a) {
    constexpr int HALF = OPW / 2;
    if (EPI == EPI_SWIGLU) return p * HALF + (o < HALF ? o : o - HALF + (out >> 1));
    if (EPI == EPI_ROPE) return OPW * p + o;  // q/k rows in pair order: a rotate-half pair's rows side by side
    return min(OPW * p + o, out - 1);
}

// Outputs a CTA finalizes: one per row, or one per pair of rows (SWIGLU's gate and up, ROPE's rotate pair).
template <int EPI, int OPW>
__device__ __forceinline__ constexpr int fusedOutputs() { return EPI == EPI_SWIGLU || EPI == EPI_ROPE ? OPW / 2 : OPW; }

// x chunk c (8 inputs) as float32; NORM_IN also adds its squares to sumSquares.
template <bool NORM_IN>
__device__ __forceinline__ void loadInputChunk(const FusedGemvArgs& a, int c, float (&xf)[8], float& sumSquares) {
    if (NORM_IN) {
        const float4* r4 = reinterpret_cast<const float4*>(a.residual) + 2 * c;
        const float4 lo = __ldg(r4);
        const float4 hi = __ldg(r4 + 1);
        const uint4 g = __ldg(reinterpret_cast<const uint4*>(a.normWeight) + c);
        const float r[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        float gf[8];
        unpack8(g, gf);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            sumSquares = fmaf(r[k], r[k], sumSquares);
            xf[k] = r[k] * gf[k];
        }
    } else {
        unpack8(__ldg(reinterpret_cast<const uint4*>(a.x) + c), xf);
    }
}

template <int EPI, int OPW>
__device__ __forceinline__ EpilogueInputs loadEpilogueInputs(const FusedGemvArgs& a, int p, int k, int out) {
    EpilogueInputs e = {0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0};
    if (EPI == EPI_RESIDUAL) {
        const int row = fusedRow<EPI, OPW>(p, k, out, a);  // rows past out: the last row, not written
        if (a.bias != nullptr) e.bias0 = a.bias[row];
        e.residual0 = a.residualOut[row];
    }
    if (EPI == EPI_ROPE) {
        const int pair = p * (OPW / 2) + k;
        if (a.bias != nullptr) {
            e.bias0 = a.bias[2 * pair];
            e.bias1 = a.bias[2 * pair + 1];
        }
        const int half = a.headDim >> 1;
        const int qkPairs = (a.numHeads + a.numKvHeads) * half;
        e.slotBase = (long)a.slotMapping[0] * a.numKvHeads * a.headDim;
        if (pair < qkPairs) {
            const float2 cs = a.angles[pair % half];
            e.c = cs.x;
            e.s = cs.y;
        }
    }
    return e;
}

// Output k of CTA p from the sums of its slots (already scaled by the norm): v0 the slot of row k or of the pair's
// first row (SWIGLU: gate), v1 the pair's second (SWIGLU: up; unused otherwise).
template <int EPI, int OPW>
__device__ __forceinline__ void fusedEpilogue(const FusedGemvArgs& a, const EpilogueInputs& e, int p, int k, int out,
                                              float v0, float v1) {
    if (EPI == EPI_STORE) {
        const int row = OPW * p + k;
        if (row < out) a.y[row] = v0;
    } else if (EPI == EPI_RESIDUAL) {
        // as the unfused path rounds: proj (+ bias) first, then residual + proj
        const int row = OPW * p + k;
        if (row < out) a.residualOut[row] = e.residual0 + (a.bias != nullptr ? v0 + e.bias0 : v0);
    } else if (EPI == EPI_SWIGLU) {
        a.act[p * (OPW / 2) + k] = toBf16(siluMul(v0, v1));
    } else {  // EPI_ROPE
        const int pair = p * (OPW / 2) + k;
        const float x0 = a.bias != nullptr ? v0 + e.bias0 : v0;
        const float x1 = a.bias != nullptr ? v1 + e.bias1 : v1;
        const int half = a.headDim >> 1;
        const int qkPairs = (a.numHeads + a.numKvHeads) * half;
        if (pair < qkPairs) {
            const int head = pair / half;
            const int i = pair - head * half;
            const float r0 = x0 * e.c - x1 * e.s;
            const float r1 = x1 * e.c + x0 * e.s;
            if (head < a.numHeads) {
                a.qOut[head * a.headDim + i] = r0;
                a.qOut[head * a.headDim + i + half] = r1;
            } else {
                bf16* kRow = a.kCache + e.slotBase + (head - a.numHeads) * a.headDim + i;
                kRow[0] = toBf16(r0);
                kRow[half] = toBf16(r1);
            }
        } else {
            bf16* v = a.vCache + e.slotBase + 2 * (pair - qkPairs);  // v's (kvHead, i) is its column within v
            v[0] = toBf16(x0);
            v[1] = toBf16(x1);
        }
    }
}

// The smallest power of two >= n (n >= 1).
__host__ __device__ constexpr int powerOfTwoAtLeast(int n) { return n <= 1 ? 1 : 2 * powerOfTwoAtLeast((n + 1) / 2); }

// The end of a fused GEMV's CTA: its threads' sums reduced over the CTA, then each epilogue thread's output.
template <bool NORM_IN, int EPI, int BLOCK, int OPW, int N, int OUTPUTS>
__device__ __forceinline__ void fusedGemvFinish(const FusedGemvArgs& a, const EpilogueInputs& e, float (&acc)[N], int p,
                                                int in, int out) {
    __shared__ float partial[BLOCK / 32][N];
    constexpr int GROUP = 32 / N;
    const float sum = transposingWarpSum<N>(acc);
    const int lane = threadIdx.x & 31;
    if (lane % GROUP == 0) partial[threadIdx.x >> 5][lane / GROUP] = sum;
    __syncthreads();
    if (threadIdx.x < OUTPUTS) {
        const int k = threadIdx.x;
        const bool pairs = EPI == EPI_SWIGLU || EPI == EPI_ROPE;
        const int slot0 = EPI == EPI_ROPE ? 2 * k : k;
        const int slot1 = EPI == EPI_ROPE ? 2 * k + 1 : k + OPW / 2;
        float total0 = 0.0f, total1 = 0.0f, squares = 0.0f;
#pragma unroll
        for (int warp = 0; warp < BLOCK / 32; warp++) {
            total0 += partial[warp][slot0];
            if (pairs) total1 += partial[warp][slot1];
            if (NORM_IN) squares += partial[warp][OPW];
        }
        float scale = 1.0f;
        if (NORM_IN) scale = rsqrtf(squares / in + a.eps);  // as fused_add_rms_norm
        fusedEpilogue<EPI, OPW>(a, e, p, k, out, total0 * scale, total1 * scale);
    }
}


// One round of a fused GEMV's thread: the UNROLL chunks base + u · BLOCK of its rows' weights (wv) against x, into acc.
template <bool NORM_IN, int BLOCK, int UNROLL, int OPW, int N>
__device__ __forceinline__ void fusedGemvRound(const FusedGemvArgs& a, const uint4 (&wv)[UNROLL][OPW], int base,
                                               int numChunks, float (&acc)[N]) {
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
        const int c = base + u * BLOCK;
        if (c >= numChunks) break;
        float xf[8];
        loadInputChunk<NORM_IN>(a, c, xf, acc[NORM_IN ? OPW : 0]);
#pragma unroll
        for (int o = 0; o < OPW; o++) acc[o] = dot8(wv[u][o], xf, acc[o]);
    }
}

// One CTA, 1 row of x: output slots 0 .. OPW - 1 of CTA blockIdx.x (rows from fusedRow). BLOCK threads (GEMV_BLOCK, or
// 256 for rows of more than one round of loads at 128: each CTA's life, and with it the kernel's tail, is then half as
// long). Epilogue threads k < fusedOutputs add up the warps' sums of their slots and write their output.
// AHEAD (the _a2 kernels): two rounds of loads in flight, both before pdlWait, and each round's buffer reloaded with the
// round after next as soon as it has been used. Without it a thread loads its first round before the wait and each
// later one only when the round before is done, so a row of two rounds (2,048 inputs at 8 rows a CTA) waits out a
// second round trip to HBM after the kernel ahead has finished. The same chunks in the same order: the same sums. The
// second buffer costs ~40 registers, which crowds out the CTAs of the kernels around it where those are many.
template <bool NORM_IN, int EPI, int BLOCK = GEMV_BLOCK, int OPW = 2, bool AHEAD = false>
__device__ __forceinline__ void fusedGemvTile(const FusedGemvArgs& a, const bf16* __restrict__ w, int in, int out) {
    static_assert(OPW == 2 || OPW == 4 || OPW == 8, "2, 4 or 8 rows a CTA");
    constexpr int UNROLL = 8 / OPW;
    constexpr int N = powerOfTwoAtLeast(OPW + (NORM_IN ? 1 : 0));  // the rows' sums, then Σ residual² (NORM_IN)
    constexpr int OUTPUTS = fusedOutputs<EPI, OPW>();
    const int numChunks = in >> 3;
    const int p = blockIdx.x;
    const uint4* wRow[OPW];
#pragma unroll
    for (int o = 0; o < OPW; o++) {
        wRow[o] = reinterpret_cast<const uint4*>(w) + (long)fusedRow<EPI, OPW>(p, o, out, a) * numChunks;
    }
    float acc[N];
#pragma unroll
    for (int i = 0; i < N; i++) acc[i] = 0.0f;
    constexpr int STEP = BLOCK * UNROLL;
    uint4 wv[UNROLL][OPW], wn[UNROLL][OPW];  // wn: the round after wv's (AHEAD only)
    pdlTrigger();
    loadWeightRound<UNROLL, OPW, BLOCK>(wv, wRow, threadIdx.x, numChunks);
    if constexpr (AHEAD) loadWeightRound<UNROLL, OPW, BLOCK>(wn, wRow, threadIdx.x + STEP, numChunks);  // zeros past the row
    pdlWait();
    EpilogueInputs e;
    if (threadIdx.x < OUTPUTS) e = loadEpilogueInputs<EPI, OPW>(a, p, threadIdx.x, out);
    if constexpr (AHEAD) {
        for (int base = threadIdx.x; base < numChunks; base += 2 * STEP) {
            fusedGemvRound<NORM_IN, BLOCK, UNROLL, OPW, N>(a, wv, base, numChunks, acc);
            if (base + 2 * STEP < numChunks) loadWeightRound<UNROLL, OPW, BLOCK>(wv, wRow, base + 2 * STEP, numChunks);
            if (base + STEP >= numChunks) break;
            fusedGemvRound<NORM_IN, BLOCK, UNROLL, OPW, N>(a, wn, base + STEP, numChunks, acc);
            if (base + 3 * STEP < numChunks) loadWeightRound<UNROLL, OPW, BLOCK>(wn, wRow, base + 3 * STEP, numChunks);
        }
    } else {
        for (int base = threadIdx.x; base < numChunks; base += STEP) {
            if (base != threadIdx.x) loadWeightRound<UNROLL, OPW, BLOCK>(wv, wRow, base, numChunks);
            fusedGemvRound<NORM_IN, BLOCK, UNROLL, OPW, N>(a, wv, base, numChunks, acc);
        }
    }
    fusedGemvFinish<NORM_IN, EPI, BLOCK, OPW, N, OUTPUTS>(a, e, acc, p, in, out);
}

// The fused GEMVs at OPW rows a CTA (grid ceil(out / OPW); SWIGLU: out / OPW, ROPE: out / OPW with out a multiple of
// OPW), one instantiation per OPW: suffix "" for 2 rows, _o4 and _o8 for rows of at most 2,048 and 1,024 inputs
// (FusedGemvKernel.rowsPerCta).
// - gemv_residual_rows1*: residual (in) f32 += x · wᵀ (+ bias): o_proj, down_proj.
// - gemv_norm_rows1*: y (out) f32 = RMSNorm(residual) · normWeight · wᵀ: the LM head; qkv of qwen3.
// - gemv_norm_swiglu_rows1*: w (2 · intermediate, in) holds gate then up; act (intermediate) bf16.
// - gemv_norm_rope_rows1*: out = (numHeads + 2 · numKvHeads) · headDim, headDim even; w holds q, k, v rows.
// The residual GEMV as kernel NAME: BLOCK threads, at least MIN_BLOCKS CTAs an SM, OPW rows a CTA, AHEAD as fusedGemvTile.
#define RESIDUAL_GEMV_ENTRY(NAME, BLOCK, MIN_BLOCKS, OPW, AHEAD)                                                    \
    extern "C" __global__ void __launch_bounds__(BLOCK, MIN_BLOCKS)                                                 \
    NAME(const bf16* __restrict__ x, const bf16* __restrict__ w, float* __restrict__ residual,                      \
         const float* __restrict__ bias, int in, int out) {                                                         \
        FusedGemvArgs a = {};                                                                                       \
        a.x = x;                                                                                                    \
        a.residualOut = residual;                                                                                   \
        a.bias = bias;                                                                                              \
        fusedGemvTile<false, EPI_RESIDUAL, BLOCK, OPW, AHEAD>(a, w, in, out);                                       \
    }

// A normed GEMV without extra inputs as kernel NAME: epilogue EPI writing OUT_T values to FusedGemvArgs::FIELD.
#define NORM_GEMV_ENTRY(NAME, EPI, OUT_T, FIELD, OPW)                                                               \
    extern "C" __global__ void __launch_bounds__(GEMV_BLOCK, 3)                                                     \
    NAME(const float* __restrict__ residual, const bf16* __restrict__ normWeight, const bf16* __restrict__ w,        \
         OUT_T* __restrict__ FIELD, int in, int out, float eps) {                                                   \
        FusedGemvArgs a = {};                                                                                       \
        a.residual = residual;                                                                                      \
        a.normWeight = normWeight;                                                                                  \
        a.eps = eps;                                                                                                \
        a.FIELD = FIELD;                                                                                            \
        fusedGemvTile<true, EPI, GEMV_BLOCK, OPW>(a, w, in, out);                                                   \
    }

#define FUSED_GEMV_ENTRIES(SUFFIX, OPW)                                                                             \
    RESIDUAL_GEMV_ENTRY(gemv_residual_rows1##SUFFIX, GEMV_BLOCK, 3, OPW, false)                                     \
    NORM_GEMV_ENTRY(gemv_norm_rows1##SUFFIX, EPI_STORE, float, y, OPW)                                              \
    NORM_GEMV_ENTRY(gemv_norm_swiglu_rows1##SUFFIX, EPI_SWIGLU, bf16, act, OPW)                                     \
    extern "C" __global__ void __launch_bounds__(GEMV_BLOCK, 3)                                                     \
    gemv_norm_rope_rows1##SUFFIX(const float* __restrict__ residual, const bf16* __restrict__ normWeight,           \
                                 const bf16* __restrict__ w, const float* __restrict__ bias,                        \
                                 const float2* __restrict__ angles, const int* __restrict__ slotMapping,            \
                                 float* __restrict__ qOut, bf16* __restrict__ kCache, bf16* __restrict__ vCache,    \
                                 int in, int numHeads, int numKvHeads, int headDim, float eps) {                    \
        FusedGemvArgs a = {};                                                                                       \
        a.residual = residual;                                                                                      \
        a.normWeight = normWeight;                                                                                  \
        a.eps = eps;                                                                                                \
        a.bias = bias;                                                                                              \
        a.angles = angles;                                                                                          \
        a.slotMapping = slotMapping;                                                                                \
        a.qOut = qOut;                                                                                              \
        a.kCache = kCache;                                                                                          \
        a.vCache = vCache;                                                                                          \
        a.numHeads = numHeads;                                                                                      \
        a.numKvHeads = numKvHeads;                                                                                  \
        a.headDim = headDim;                                                                                        \
        fusedGemvTile<true, EPI_ROPE, GEMV_BLOCK, OPW>(a, w, in, (numHeads + 2 * numKvHeads) * headDim);            \
    }

FUSED_GEMV_ENTRIES(, 2)
FUSED_GEMV_ENTRIES(_o4, 4)
FUSED_GEMV_ENTRIES(_o8, 8)

// gemv_residual_rows1 with two rounds of loads ahead (suffix _a2; FusedGemvKernel.AHEAD): the o projection, whose kernel
// ahead (the decode attention, ~128 CTAs) leaves room on every SM for its CTAs to load both rounds before the wait.
RESIDUAL_GEMV_ENTRY(gemv_residual_rows1_a2, GEMV_BLOCK, 3, 2, true)
RESIDUAL_GEMV_ENTRY(gemv_residual_rows1_o4_a2, GEMV_BLOCK, 3, 4, true)
RESIDUAL_GEMV_ENTRY(gemv_residual_rows1_o8_a2, GEMV_BLOCK, 3, 8, true)

// As gemv_residual_rows1 with 256 threads a CTA (2, 4 or 8 rows): the down projection (rows of more than 4096 inputs),
// whose CTAs at 128 threads run 2-4 rounds of loads one after the other and so leave a tail as long
// (FusedGemvKernel.WIDE_DOWN).
RESIDUAL_GEMV_ENTRY(gemv_residual_rows1_b256, 256, 2, 2, false)
RESIDUAL_GEMV_ENTRY(gemv_residual_rows1_b256_o4, 256, 2, 4, false)
RESIDUAL_GEMV_ENTRY(gemv_residual_rows1_b256_o8, 256, 2, 8, false)

