#include "common.cuh"

// y (rows, cols) float32 += bias (cols): the o_proj bias of llama/qwen3 models with attention_bias
// (cuBLAS GEMMs have no bias; q/k/v biases are fused into rope_qk_norm_kv_write instead).
extern "C" __global__ void add_bias_rows(float* __restrict__ y, const float* __restrict__ bias, int rows, int cols) {
    pdlGate();
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < (long)rows * cols) y[idx] += bias[idx % cols];
}
