// Kernel-only sweep of prefill_attention_*_hd128 (not part of the Maven build): one causal prompt of n tokens
// (default 8192) on the Llama-3.1-8B attention shape (32 heads, 8 KV heads, head_dim 128, pages of 16 in
// shuffled order), the flavors (base, fast64b, wgmma) × launch order; prints ms per layer, TFLOP/s (causal FLOPs
// 4·H·hd·n(n+1)/2), the relative error of sampled rows against a float64 reference, and the relative difference to
// base. The other flavors it compared were removed (their times: BENCHMARKS.md).
// Build (no GPU needed), then run on the H200:
//   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Icuda-kernels/src/main/cuda \
//        -o target/prefill_sweep scripts/bench/prefill_attention_sweep.cu && ./target/prefill_sweep 8192
#include "prefill_attention.cu"
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <random>
#include <cmath>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1);} } while (0)
typedef void (*Kernel)(const float*, const bf16*, const bf16*, const int*, const int*, const int*, int, int, int, int, float, int, int, bf16*, float*, float*, float*);
static float b2f(bf16 v) { return __bfloat162float(v); }
int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8192;
    const int H = 32, KV = 8, HD = 128, PS = 16, G = H / KV, TPT = 128 / G;
    int numPages = (n + PS - 1) / PS;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> q((size_t)n * H * HD);
    for (auto& x : q) x = nd(rng);
    std::vector<bf16> k((size_t)numPages * PS * KV * HD), v(k.size());
    for (auto& x : k) x = __float2bfloat16(nd(rng));
    for (auto& x : v) x = __float2bfloat16(nd(rng));
    std::vector<int> table(numPages);
    for (int i = 0; i < numPages; i++) table[i] = i;
    std::shuffle(table.begin(), table.end(), rng);
    std::vector<int> pos(n);
    for (int i = 0; i < n; i++) pos[i] = i;
    std::vector<int> tiles;
    int numTiles = (n + TPT - 1) / TPT;
    for (int t = numTiles - 1; t >= 0; t--) { tiles.push_back(0); tiles.push_back(t * TPT); tiles.push_back(std::min(TPT, n - t * TPT)); tiles.push_back(0); }
    float *dq; bf16 *dk, *dv, *dout; int *dpos, *dtab, *dtiles;
    CK(cudaMalloc(&dq, q.size() * 4)); CK(cudaMalloc(&dk, k.size() * 2)); CK(cudaMalloc(&dv, v.size() * 2));
    CK(cudaMalloc(&dout, (size_t)n * H * HD * 2)); CK(cudaMalloc(&dpos, n * 4)); CK(cudaMalloc(&dtab, numPages * 4));
    CK(cudaMalloc(&dtiles, tiles.size() * 4));
    CK(cudaMemcpy(dq, q.data(), q.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, k.data(), k.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dpos, pos.data(), n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dtab, table.data(), numPages * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dtiles, tiles.data(), tiles.size() * 4, cudaMemcpyHostToDevice));
    float scaleLog2 = (float)(1.0 / sqrt((double)HD) / log(2.0));
    struct V { const char* name; Kernel k; int smem; int threads; } vars[] = {
        {"base", prefill_attention_hd128, 2 * (4 * 32 * 136 + 128 * 136), 128},
        {"fast64b", prefill_attention_fast64b_hd128, 2 * (4 * 64 * 136 + 128 * 136), 128},
        {"wgmma", prefill_attention_wgmma_hd128, 3 * 2 * 128 * 128 * 2 + 1024, 256}};
    // reference rows in double
    std::vector<int> refTok = {0, 1, 31, 32, 33, 127, 1000, n / 2 + 3, n - 2, n - 1};
    std::vector<bf16> out((size_t)n * H * HD);
    double flops = 4.0 * H * HD * (double)n * (n + 1) / 2;
    std::vector<bf16> baseOut;
    for (auto& var : vars) {
        CK(cudaFuncSetAttribute(var.k, cudaFuncAttributeMaxDynamicSharedMemorySize, var.smem));
        for (int order = 0; order < 2; order++) {
            dim3 grid = order ? dim3(KV, numTiles, 1) : dim3(numTiles, KV, 1);
            CK(cudaMemset(dout, 0xFF, (size_t)n * H * HD * 2));
            auto launch = [&] { var.k<<<grid, var.threads, var.smem>>>(dq, dk, dv, dpos, dtab, dtiles, numPages, PS, H, KV, scaleLog2, 1, order, dout, nullptr, nullptr, nullptr); };
            launch(); CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(out.data(), dout, out.size() * 2, cudaMemcpyDeviceToHost));
            double maxErr = 0;
            for (int t : refTok) for (int h = 0; h < H; h += 5) {
                int kh = h / G; std::vector<double> sc(t + 1); double mx = -1e300;
                for (int j = 0; j <= t; j++) { size_t slot = (size_t)table[j / PS] * PS + j % PS; double d = 0;
                    for (int e = 0; e < HD; e++) d += (double)b2f(__float2bfloat16(q[((size_t)t * H + h) * HD + e])) * b2f(k[(slot * KV + kh) * HD + e]);
                    sc[j] = d / sqrt((double)HD); mx = std::max(mx, sc[j]); }
                double sum = 0; for (auto& x : sc) { x = exp(x - mx); sum += x; }
                double num = 0, den = 0;
                for (int e = 0; e < HD; e++) { double o = 0;
                    for (int j = 0; j <= t; j++) { size_t slot = (size_t)table[j / PS] * PS + j % PS; o += sc[j] * b2f(v[(slot * KV + kh) * HD + e]); }
                    o /= sum; double g = b2f(out[((size_t)t * H + h) * HD + e]); num += (g - o) * (g - o); den += o * o; }
                maxErr = std::max(maxErr, sqrt(num / den));
            }
            double diffBase = 0;
            if (baseOut.empty()) baseOut = out; else { double num = 0, den = 0; for (size_t i = 0; i < out.size(); i++) { double a = b2f(out[i]), b = b2f(baseOut[i]); num += (a - b) * (a - b); den += b * b; } diffBase = sqrt(num / den); }
            cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
            for (int i = 0; i < 3; i++) launch();
            int reps = 20; cudaEventRecord(e0); for (int i = 0; i < reps; i++) launch(); cudaEventRecord(e1); CK(cudaEventSynchronize(e1));
            float ms; cudaEventElapsedTime(&ms, e0, e1); ms /= reps;
            printf("%-8s order=%s  %.3f ms  %.1f TFLOP/s  ref rel err %.2e  vs base %.2e\n", var.name,
                   order ? "heads" : "tiles", ms, flops / ms / 1e9, maxErr, diffBase);
        }
    }
    return 0;
}
