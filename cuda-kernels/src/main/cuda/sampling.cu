#include "common.cuh"

// The GPU twin of io.radixlm.sampling.Sampler (read its Javadoc): temperature softmax, top-k → top-p →
// min-p, and a draw with the counter-based uniform of io.radixlm.sampling.CounterUniform, so that only
// the sampled ids leave the GPU. Every decision is made on exact integers (fixed-point weights, 64-bit
// sums, atomics on integers are order-independent), so the CPU and the GPU agree bit for bit except
// where CUDA's exp and Java's Math.exp differ in the last bit (see the Sampler's Javadoc).
//
// grid (numRows), block SAMPLE_THREADS. params (numRows, SAMPLE_PARAMS) int64: [0] temperature (f64
// bits), [1] top-p (f64 bits), [2] min-p (f64 bits), [3] seed, [4] step, [5] top-k, [6..7] unused.
// out (numRows) int: the sampled id; -1 when the row holds a NaN or an infinity.

#define SAMPLE_THREADS 512
#define SAMPLE_PARAMS 8
#define SAMPLE_ID_BITS 19
#define SAMPLE_MAX_VOCAB (1 << SAMPLE_ID_BITS)
#define SAMPLE_WEIGHT_SCALE 8796093022208.0  // 2^43: the top token's fixed-point weight

// SplitMix64's finaliser (Stafford variant 13), as CounterUniform.mix64.
__device__ __forceinline__ unsigned long long sampleMix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// CounterUniform.bits53(seed, step): a 53-bit uniform integer.
__device__ __forceinline__ unsigned long long sampleBits53(unsigned long long seed, unsigned long long step) {
    return sampleMix64(sampleMix64(seed) + (step + 1ULL) * 0x9E3779B97F4A7C15ULL) >> 11;
}

// Sampler.weights: (long) (exp(x / T - maxScaled) * 2^43); the _rn intrinsics keep nvcc from fusing
// anything, so each operation rounds as Java's does.
__device__ __forceinline__ unsigned long long sampleWeight(float x, double temperature, double maxScaled) {
    double e = exp(__dsub_rn(__ddiv_rn((double)x, temperature), maxScaled));
    return (unsigned long long)__dmul_rn(e, SAMPLE_WEIGHT_SCALE);  // truncation, as Java's (long)
}

// Sampler.key: descending keys are the order "most probable first, then lowest id".
__device__ __forceinline__ unsigned long long sampleKey(unsigned long long weight, int id) {
    return (weight << SAMPLE_ID_BITS) | (unsigned long long)(SAMPLE_MAX_VOCAB - 1 - id);
}

// Sum of v over the block (every thread gets it), exact on integers. scratch has SAMPLE_THREADS entries.
__device__ unsigned long long sampleBlockSum(unsigned long long v, unsigned long long* scratch) {
    __syncthreads();  // scratch may still be read by an earlier step
    scratch[threadIdx.x] = v;
    __syncthreads();
    for (int stride = SAMPLE_THREADS / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) scratch[threadIdx.x] += scratch[threadIdx.x + stride];
        __syncthreads();
    }
    unsigned long long total = scratch[0];
    __syncthreads();
    return total;
}

// A float as an int with the same order (finite values), for integer atomicMin/atomicMax on logits.
__device__ __forceinline__ int sampleOrdered(float x) {
    int i = __float_as_int(x);
    return i >= 0 ? i : i ^ 0x7FFFFFFF;
}

// Shared memory of one radix descent.
struct SampleRadixShared {
    unsigned long long histogram[256];  // count or weight of the keys under the prefix, per next digit
    int bucketLow[256];                  // smallest logit (sampleOrdered) per digit, of the same keys
    int bucketHigh[256];                 // largest logit (sampleOrdered) per digit
    unsigned long long prefix;
    unsigned long long above;
    int low;
    int high;
    int keptLow;
};

// The largest key t among keys >= floorKey such that the measure (count, or weight when byMass) of the
// keys in [t, inf) that are >= floorKey reaches the need: a radix descent over 8-bit digits, most
// significant first. With counts it is the needed-th largest key (top-k); with weights, the key of the
// shortest most-probable-first prefix whose weight reaches neededMass (top-p). The chosen bucket always
// holds a key, because the keys above it alone do not reach the need while the whole set does.
//
// Only the first pass needs every token's exp: each pass also records the range of logits of each
// bucket's members, and a later pass skips any token outside the chosen bucket's range before computing
// its weight (it cannot be a member: the range was taken over the members themselves, so this needs no
// assumption on exp). floorLow (sampleOrdered) must be at most the logit of every key >= floorKey.
// keptLow gets the smallest logit (sampleOrdered) among the keys >= the returned key and >= floorKey.
__device__ unsigned long long sampleRadixCut(const float* row, int vocab, double temperature, double maxScaled,
                                             unsigned long long floorKey, int floorLow, bool byMass,
                                             unsigned long long neededCount, double neededMass,
                                             SampleRadixShared* sh, int& keptLow) {
    unsigned long long prefix = 0;
    unsigned long long above = 0;  // measure of the keys whose digits so far exceed prefix's
    int low = floorLow;            // logits of the keys under the prefix lie in [low, high]
    int high = 0x7fffffff;
    int kept = 0x7fffffff;         // smallest logit among the keys already known to be above the cut
    for (int shift = 56; shift >= 0; shift -= 8) {
        unsigned long long highMask = shift == 56 ? 0ULL : (~0ULL << (shift + 8));
        for (int b = threadIdx.x; b < 256; b += SAMPLE_THREADS) {
            sh->histogram[b] = 0;
            sh->bucketLow[b] = 0x7fffffff;
            sh->bucketHigh[b] = (int)0x80000000;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < vocab; i += SAMPLE_THREADS) {
            float x = row[i];
            int ordered = sampleOrdered(x);
            if (ordered < low || ordered > high) continue;
            unsigned long long w = sampleWeight(x, temperature, maxScaled);
            unsigned long long key = sampleKey(w, i);
            if (key >= floorKey && ((key ^ prefix) & highMask) == 0) {
                int digit = (int)((key >> shift) & 255);
                atomicAdd(&sh->histogram[digit], byMass ? w : 1ULL);
                atomicMin(&sh->bucketLow[digit], ordered);
                atomicMax(&sh->bucketHigh[digit], ordered);
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned long long acc = above;
            int b = 255;
            for (; b > 0; b--) {
                unsigned long long through = acc + sh->histogram[b];
                bool enough = byMass ? (double)through >= neededMass : through >= neededCount;
                if (enough) break;
                acc = through;
                kept = min(kept, sh->bucketLow[b]);  // every key of a bucket passed over is above the cut
            }
            sh->prefix = prefix | ((unsigned long long)b << shift);
            sh->above = acc;
            sh->low = sh->bucketLow[b];
            sh->high = sh->bucketHigh[b];
            sh->keptLow = kept;
        }
        __syncthreads();
        prefix = sh->prefix;
        above = sh->above;
        low = sh->low;
        high = sh->high;
        kept = sh->keptLow;
        __syncthreads();  // sh is rewritten in the next round only after everyone has read it
    }
    keptLow = min(kept, low);  // the last bucket holds exactly the returned key
    return prefix;
}

// floor(bits53 * mass / 2^53): Sampler.scaledTarget.
__device__ __forceinline__ unsigned long long sampleTarget(unsigned long long bits53, unsigned long long mass) {
    unsigned long long high = __umul64hi(bits53, mass);
    unsigned long long low = bits53 * mass;
    return (high << 11) | (low >> 53);
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
sample_rows(const float* __restrict__ logits, const long long* __restrict__ params, int* __restrict__ out, int vocab) {
    __shared__ SampleRadixShared radix;
    __shared__ unsigned long long scratch[SAMPLE_THREADS];
    __shared__ float bestValue[SAMPLE_THREADS];
    __shared__ int bestIndex[SAMPLE_THREADS];
    __shared__ unsigned long long broadcast[2];
    __shared__ int anyNonFinite;

    const float* row = logits + (long)blockIdx.x * vocab;
    const long long* p = params + (long)blockIdx.x * SAMPLE_PARAMS;
    const double temperature = __longlong_as_double(p[0]);
    const double topP = __longlong_as_double(p[1]);
    const double minP = __longlong_as_double(p[2]);
    const unsigned long long seed = (unsigned long long)p[3];
    const unsigned long long step = (unsigned long long)p[4];
    const long long topK = p[5];
    const int tid = threadIdx.x;

    // argmax (the first of equal maxima) and a check that every logit is finite
    if (tid == 0) anyNonFinite = 0;
    __syncthreads();
    float value = -CUDART_INF_F;
    int index = 0x7fffffff;
    bool nonFinite = false;
    for (int i = tid; i < vocab; i += SAMPLE_THREADS) {
        float x = row[i];
        if (!isfinite(x)) nonFinite = true;
        else if (x > value) { value = x; index = i; }  // i rises, so the first maximum stays
    }
    if (nonFinite) anyNonFinite = 1;
    bestValue[tid] = value;
    bestIndex[tid] = index;
    __syncthreads();
    for (int stride = SAMPLE_THREADS / 2; stride > 0; stride >>= 1) {
        if (tid < stride) {
            float other = bestValue[tid + stride];
            int otherIndex = bestIndex[tid + stride];
            if (other > bestValue[tid] || (other == bestValue[tid] && otherIndex < bestIndex[tid])) {
                bestValue[tid] = other;
                bestIndex[tid] = otherIndex;
            }
        }
        __syncthreads();
    }
    if (anyNonFinite) {  // the same for the whole block: read after the barriers above
        if (tid == 0) out[blockIdx.x] = -1;
        return;
    }
    if (temperature == 0.0) {
        if (tid == 0) out[blockIdx.x] = bestIndex[0];
        return;
    }
    const double maxScaled = __ddiv_rn((double)bestValue[0], temperature);

    // the smallest surviving key: top-k, then top-p over the top-k set
    unsigned long long cut = 0;     // every key is >= 0
    int keptLow = (int)0x80000000;  // every kept token's logit (sampleOrdered) is >= keptLow
    if (topK > 0 && topK < vocab) {
        cut = sampleRadixCut(row, vocab, temperature, maxScaled, 0, keptLow, false, (unsigned long long)topK, 0.0,
                             &radix, keptLow);
    }
    if (topP < 1.0) {
        unsigned long long mine = 0;
        for (int i = tid; i < vocab; i += SAMPLE_THREADS) {
            float x = row[i];
            if (sampleOrdered(x) < keptLow) continue;
            unsigned long long w = sampleWeight(x, temperature, maxScaled);
            if (sampleKey(w, i) >= cut) mine += w;
        }
        unsigned long long topKMass = sampleBlockSum(mine, scratch);
        double needed = __dmul_rn(topP, (double)topKMass);
        cut = sampleRadixCut(row, vocab, temperature, maxScaled, cut, keptLow, true, 0, needed, &radix, keptLow);
    }
    const double minWeight = __dmul_rn(minP, SAMPLE_WEIGHT_SCALE);  // min-p: w >= minP * 2^43

    // the draw, in ascending ids: each thread owns a contiguous chunk; an exclusive scan of the chunks'
    // kept weight finds the chunk where the cumulative weight first exceeds the target
    const int chunk = (vocab + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    const int begin = min(tid * chunk, vocab);
    const int end = min(begin + chunk, vocab);
    unsigned long long mine = 0;
    for (int i = begin; i < end; i++) {
        float x = row[i];
        if (sampleOrdered(x) < keptLow) continue;
        unsigned long long w = sampleWeight(x, temperature, maxScaled);
        if (sampleKey(w, i) >= cut && (double)w >= minWeight) mine += w;
    }
    __syncthreads();
    scratch[tid] = mine;
    __syncthreads();
    if (tid == 0) {
        unsigned long long running = 0;
        for (int t = 0; t < SAMPLE_THREADS; t++) {
            unsigned long long v = scratch[t];
            scratch[t] = running;
            running += v;
        }
        broadcast[0] = running;
    }
    __syncthreads();
    const unsigned long long mass = broadcast[0];  // > 0: the top token (weight 2^43) always survives
    const unsigned long long target = sampleTarget(sampleBits53(seed, step), mass);
    unsigned long long cumulative = scratch[tid];
    if (target >= cumulative && target < cumulative + mine) {
        for (int i = begin; i < end; i++) {
            float x = row[i];
            if (sampleOrdered(x) < keptLow) continue;
            unsigned long long w = sampleWeight(x, temperature, maxScaled);
            if (sampleKey(w, i) < cut || (double)w < minWeight) continue;
            cumulative += w;
            if (target < cumulative) {
                out[blockIdx.x] = i;
                break;
            }
        }
    }
}
