#!/usr/bin/env bash
# Compiles src/main/cuda/*.cu into one fatbin on the classpath (io/radixlm/cuda/kernels.fatbin):
# sm_90a machine code for the H100/H200 (the "a" target: Hopper's warpgroup MMA, which prefill_attention_wgmma
# needs) plus compute_80 PTX that the driver JIT-compiles for other GPUs of compute capability 8.0+. Called by Maven (exec-maven-plugin) during generate-resources.
# Without nvcc the build still succeeds; the CUDA backend then reports at run time that it has no kernels.
set -euo pipefail
src_dir="$(cd "$1" && pwd)"  # .../src/main/cuda
out_dir="$2"      # .../target/classes
work_dir="$3"     # .../target/cuda
out="$out_dir/io/radixlm/cuda/kernels.fatbin"

nvcc=""
# RADIXLM_NVCC=none builds without kernels on purpose (to check that path); any other value names nvcc.
if [[ "${RADIXLM_NVCC:-}" == none ]]; then
  echo "[radixlm] RADIXLM_NVCC=none: building without CUDA kernels; the cuda backend will say so at run time"
  rm -f "$out"
  exit 0
fi
for candidate in "${RADIXLM_NVCC:-}" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc || true)" \
                 /usr/local/cuda-13.0/bin/nvcc /usr/local/cuda/bin/nvcc; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then nvcc="$candidate"; break; fi
done
if [[ -z "$nvcc" ]]; then
  echo "[radixlm] nvcc not found (set CUDA_HOME): building without CUDA kernels; the cuda backend will say so at run time"
  rm -f "$out"
  exit 0
fi

# Rebuild only when a source is newer than the fatbin, so that CI and repeated builds stay fast.
if [[ -f "$out" ]] && [[ -z "$(find "$src_dir" -newer "$out" -type f)" ]]; then
  exit 0
fi

mkdir -p "$work_dir" "$(dirname "$out")"
# One translation unit for all kernel families: nvcc -fatbin takes one input, and the kernels share
# the helpers in common.cuh.
unity="$work_dir/all_kernels.cu"
: > "$unity"
for f in "$src_dir"/*.cu; do echo "#include \"$f\"" >> "$unity"; done
"$nvcc" -fatbin -O3 -std=c++17 -I"$src_dir" \
  -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_80,code=compute_80 \
  -o "$out.tmp" "$unity"
mv "$out.tmp" "$out"
echo "[radixlm] built CUDA kernels with $nvcc: $out ($(stat -c %s "$out") bytes)"
