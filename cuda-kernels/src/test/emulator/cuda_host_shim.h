// Just enough of CUDA for one kernel to run on the host: each CUDA thread is a std::thread, __syncthreads
// is a std::barrier over the block, __shared__ is a static (one block runs at a time), atomics are
// std::atomic_ref. It checks a kernel's logic and barriers, not its speed or the GPU's own math library.
#include <cmath>
#include <cstring>
#include <thread>
#include <barrier>
#include <atomic>
#include <vector>
#include <cstdio>
#include <cstdint>
#include <algorithm>
struct Dim3e { unsigned x; };
thread_local Dim3e threadIdx;
Dim3e blockIdx;
static std::barrier<>* gBarrier;
inline void __syncthreads() { gBarrier->arrive_and_wait(); }
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(x)
#define __shared__ static
#define CUDART_INF_F INFINITY
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __longlong_as_double(long long v) { double d; memcpy(&d, &v, 8); return d; }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) { return (unsigned long long)(((unsigned __int128)a * b) >> 64); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return std::atomic_ref<unsigned long long>(*p).fetch_add(v); }
using std::min; using std::isfinite; using std::exp;
inline int atomicMin(int* p, int v) { std::atomic_ref<int> a(*p); int old = a.load(); while (v < old && !a.compare_exchange_weak(old, v)) { } return old; }
inline int atomicMax(int* p, int v) { std::atomic_ref<int> a(*p); int old = a.load(); while (v > old && !a.compare_exchange_weak(old, v)) { } return old; }
inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
