// Runs sampling.cu's sample_rows on the CPU, one std::thread per CUDA thread (see cuda_host_shim.h),
// block after block: reads (vocab, numRows, params, logits) from argv[1], writes the ids to argv[2].
// Built and driven by scripts/sampling-emulator.
#include "cuda_host_shim.h"
#include KERNEL_SOURCE
int main(int argc, char** argv) {
    FILE* f = fopen(argv[1], "rb");
    int vocab, numRows;
    fread(&vocab, 4, 1, f); fread(&numRows, 4, 1, f);
    std::vector<long long> params((size_t)numRows * SAMPLE_PARAMS);
    fread(params.data(), 8, params.size(), f);
    std::vector<float> logits((size_t)numRows * vocab);
    fread(logits.data(), 4, logits.size(), f);
    fclose(f);
    std::vector<int> out(numRows, 0x7F7F7F7F);
    for (int r = 0; r < numRows; r++) {
        blockIdx.x = r;
        std::barrier<> bar(SAMPLE_THREADS);
        gBarrier = &bar;
        std::vector<std::thread> threads;
        for (int t = 0; t < SAMPLE_THREADS; t++) threads.emplace_back([&, t] { threadIdx.x = t; sample_rows(logits.data(), params.data(), out.data(), vocab); });
        for (auto& th : threads) th.join();
    }
    f = fopen(argv[2], "wb");
    fwrite(out.data(), 4, numRows, f);
    fclose(f);
}
