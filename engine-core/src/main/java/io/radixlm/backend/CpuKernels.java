package io.radixlm.backend;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * The CPU reference kernels in float32: one static method per future GPU kernel, plain loops in
 * llama2.c's manner so that each is obviously right. Row-major everywhere; every buffer carries a
 * shape comment. The CUDA kernels are checked against these, so precision choices mirror HF
 * transformers computing in float32 (float accumulators, float RoPE angles).
 */
public final class CpuKernels {

    /** Below this many multiply-adds a matmul runs on the calling thread: forking costs more than it saves. */
    private static final long PARALLEL_MIN_WORK = 1L << 16;

    private CpuKernels() { }

    /**
     * Gathers embedding rows: out[t] = table[tokenIds[t]].
     *
     * @param out      (numTokens, dim)
     * @param table    (vocab, dim)
     * @param tokenIds (numTokens)
     */
    public static void embedding(float[] out, float[] table, int[] tokenIds, int dim) {
        int vocab = table.length / dim;
        for (int t = 0; t < tokenIds.length; t++) {
            int id = tokenIds[t];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
            }
            System.arraycopy(table, id * dim, out, t * dim, dim);
        }
    }

    /**
     * RMSNorm of each row: out = x * rsqrt(mean(x²) + eps) * weight. The variance is summed in double
     * and rounded to float, which stays within float rounding of HF's float32 variance. out may be x.
     *
     * @param out    (numRows, dim)
     * @param x      (numRows, dim)
     * @param weight (dim)
     */
    public static void rmsNorm(float[] out, float[] x, float[] weight, int numRows, int dim, float eps) {
        for (int r = 0; r < numRows; r++) {
            int base = r * dim;
            double sumSquares = 0;
            for (int i = 0; i < dim; i++) {
                sumSquares += (double) x[base + i] * x[base + i];
            }
            float variance = (float) (sumSquares / dim);
            float invRms = (float) (1.0 / Math.sqrt(variance + eps));
            for (int i = 0; i < dim; i++) {
                out[base + i] = (x[base + i] * invRms) * weight[i];
            }
        }
    }

    /**
     * Per-head RMSNorm in place (Qwen3's q_norm / k_norm, applied before RoPE): every head vector of
     * every token is normalised with the same (headDim) weight.
     *
     * @param x      (numTokens, numHeads * headDim)
     * @param weight (headDim)
     */
    public static void headRmsNorm(float[] x, float[] weight, int numTokens, int numHeads, int headDim, float eps) {
        rmsNorm(x, x, weight, numTokens * numHeads, headDim, eps);
    }

    /**
     * y = x · Wᵀ (+ bias), as a linear layer stores W. Parallel over blocks of output features when
     * the product is large enough; each output is one dot product, so results do not depend on the
     * number of threads.
     *
     * @param y    (n, outDim)
     * @param x    (n, inDim)
     * @param w    (outDim, inDim)
     * @param bias (outDim) or null
     */
    public static void matmul(float[] y, float[] x, float[] w, float[] bias, int n, int inDim, int outDim) {
        int blockSize = 64;
        int numBlocks = (outDim + blockSize - 1) / blockSize;
        IntStream blocks = IntStream.range(0, numBlocks);
        if ((long) n * inDim * outDim >= PARALLEL_MIN_WORK) blocks = blocks.parallel();
        blocks.forEach(b -> {
            int end = Math.min(outDim, (b + 1) * blockSize);
            for (int o = b * blockSize; o < end; o++) {
                float bo = bias == null ? 0f : bias[o];
                for (int t = 0; t < n; t++) {
                    y[t * outDim + o] = dot(x, t * inDim, w, o * inDim, inDim) + bo;
                }
            }
        });
    }

    /** Dot product of a[aOff..aOff+len) and b[bOff..bOff+len) in float, with four partial sums for speed. */
    static float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < len; i += 4) {
            s0 += a[aOff + i] * b[bOff + i];
            s1 += a[aOff + i + 1] * b[bOff + i + 1];
            s2 += a[aOff + i + 2] * b[bOff + i + 2];
            s3 += a[aOff + i + 3] * b[bOff + i + 3];
        }
        for (; i < len; i++) {
            s0 += a[aOff + i] * b[bOff + i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /**
     * Rotary position embedding in place, HF's rotate-half layout: the pair (i, i + headDim/2) of each
     * head turns by angle position * invFreq[i]. The angle is a float product and cos/sin are rounded
     * to float, as HF computes them in float32 (a double angle drifts from it at long positions).
     *
     * @param x         (numTokens, numHeads * headDim)
     * @param positions (numTokens)
     * @param invFreq   (headDim / 2)
     */
    public static void rope(float[] x, int[] positions, float[] invFreq, int numHeads, int headDim) {
        int half = headDim / 2;
        float[] cos = new float[half];
        float[] sin = new float[half];
        for (int t = 0; t < positions.length; t++) {
            float position = positions[t];
            for (int i = 0; i < half; i++) {
                float angle = position * invFreq[i];
                cos[i] = (float) Math.cos(angle);
                sin[i] = (float) Math.sin(angle);
            }
            for (int h = 0; h < numHeads; h++) {
                int base = (t * numHeads + h) * headDim;
                for (int i = 0; i < half; i++) {
                    float x1 = x[base + i];
                    float x2 = x[base + i + half];
                    x[base + i] = x1 * cos[i] - x2 * sin[i];
                    x[base + i + half] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
    }

    /**
     * Writes the K and V of each new token into its cache slot (slot = page * pageSize + offset).
     *
     * @param kCache      (numPages * pageSize, kvDim) of one layer
     * @param vCache      (numPages * pageSize, kvDim) of one layer
     * @param k           (numTokens, kvDim)
     * @param v           (numTokens, kvDim)
     * @param slotMapping (numTokens)
     */
    public static void writeKv(float[] kCache, float[] vCache, float[] k, float[] v, int[] slotMapping, int kvDim) {
        int numSlots = kCache.length / kvDim;
        for (int t = 0; t < slotMapping.length; t++) {
            int slot = slotMapping[t];
            if (slot < 0 || slot >= numSlots) {
                throw new IllegalArgumentException("slot " + slot + " outside the KV cache [0, " + numSlots + ")");
            }
            System.arraycopy(k, t * kvDim, kCache, slot * kvDim, kvDim);
            System.arraycopy(v, t * kvDim, vCache, slot * kvDim, kvDim);
        }
    }

    /**
     * Causal attention over the paged cache. New token t of sequence s attends to positions
     * [0, positions[t]] of s, whose K/V it finds through the block table:
     * slot = blockTables[s][pos / pageSize] * pageSize + pos % pageSize. Query head h reads KV head
     * h / (numHeads / numKvHeads) (GQA). Scores are scaled by 1/sqrt(headDim); softmax subtracts the max.
     * Serves prefill chunks (several new tokens after a cached prefix) and decode (one) alike.
     *
     * @param out    (numTokens, numHeads * headDim)
     * @param q      (numTokens, numHeads * headDim), RoPE applied
     * @param kCache (numPages * pageSize, numKvHeads * headDim) of one layer, new tokens already written
     * @param vCache (numPages * pageSize, numKvHeads * headDim) of one layer
     */
    public static void attention(float[] out, float[] q, float[] kCache, float[] vCache, ForwardBatch batch,
                                 int numHeads, int numKvHeads, int headDim, int pageSize) {
        int[] seqOfToken = new int[batch.numTokens()];
        for (int s = 0; s < batch.numSeqs(); s++) {
            for (int t = batch.queryStarts()[s]; t < batch.queryStarts()[s + 1]; t++) {
                // A position past the context would read slots nobody wrote: an engine bug, caught here.
                if (batch.positions()[t] >= batch.contextLengths()[s]) {
                    throw new IllegalArgumentException("token " + t + " at position " + batch.positions()[t]
                            + " lies beyond its sequence's context length " + batch.contextLengths()[s]);
                }
                seqOfToken[t] = s;
            }
        }
        IntStream.range(0, batch.numTokens() * numHeads).parallel().forEach(task -> {
            int t = task / numHeads;
            int h = task % numHeads;
            int[] blockTable = batch.blockTables()[seqOfToken[t]];
            attendOneHead(out, q, kCache, vCache, blockTable, batch.positions()[t], t, h,
                    numHeads, numKvHeads, headDim, pageSize);
        });
    }

    private static void attendOneHead(float[] out, float[] q, float[] kCache, float[] vCache, int[] blockTable,
                                      int position, int t, int h, int numHeads, int numKvHeads, int headDim,
                                      int pageSize) {
        int kvDim = numKvHeads * headDim;
        int kvHeadOffset = (h / (numHeads / numKvHeads)) * headDim;
        int qOff = (t * numHeads + h) * headDim;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        float[] scores = new float[position + 1]; // (position + 1)
        float max = Float.NEGATIVE_INFINITY;
        for (int pos = 0; pos <= position; pos++) {
            int kOff = slot(blockTable, pos, pageSize) * kvDim + kvHeadOffset;
            scores[pos] = dot(q, qOff, kCache, kOff, headDim) * scale;
            max = Math.max(max, scores[pos]);
        }
        float sum = 0;
        for (int pos = 0; pos <= position; pos++) {
            scores[pos] = (float) Math.exp(scores[pos] - max);
            sum += scores[pos];
        }
        int outOff = qOff;
        Arrays.fill(out, outOff, outOff + headDim, 0f);
        for (int pos = 0; pos <= position; pos++) {
            float p = scores[pos] / sum;
            int vOff = slot(blockTable, pos, pageSize) * kvDim + kvHeadOffset;
            for (int i = 0; i < headDim; i++) out[outOff + i] += p * vCache[vOff + i];
        }
    }

    private static int slot(int[] blockTable, int pos, int pageSize) {
        int page = pos / pageSize;
        if (page >= blockTable.length) {
            throw new IllegalArgumentException("position " + pos + " beyond the block table (" + blockTable.length + " pages)");
        }
        return blockTable[page] * pageSize + pos % pageSize;
    }

    /**
     * SwiGLU: out = silu(gate) * up, silu(g) = g / (1 + e^-g).
     *
     * @param out  (len), may be gate
     * @param gate (len)
     * @param up   (len)
     */
    public static void swiglu(float[] out, float[] gate, float[] up, int len) {
        for (int i = 0; i < len; i++) {
            float g = gate[i];
            out[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** Residual connection: x += delta over the first len elements. */
    public static void residualAdd(float[] x, float[] delta, int len) {
        for (int i = 0; i < len; i++) x[i] += delta[i];
    }

    /**
     * Copies the selected rows (the ones whose logits are wanted) into a dense block.
     *
     * @param x    (numTokens, dim)
     * @param rows (numRows)
     * @return (numRows, dim)
     */
    public static float[] gatherRows(float[] x, int[] rows, int dim) {
        float[] out = new float[rows.length * dim];
        for (int r = 0; r < rows.length; r++) System.arraycopy(x, rows[r] * dim, out, r * dim, dim);
        return out;
    }
}
