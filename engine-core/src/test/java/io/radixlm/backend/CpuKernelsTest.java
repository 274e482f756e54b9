package io.radixlm.backend;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Each kernel on cases small enough to check by hand. */
class CpuKernelsTest {

    @Test
    void embeddingGathersRowsAndRejectsIdsOutsideTheVocabulary() {
        float[] table = {0, 1, 10, 11, 20, 21}; // (3, 2)
        float[] out = new float[4];
        CpuKernels.embedding(out, table, new int[] {2, 0}, 2);
        assertArrayEquals(new float[] {20, 21, 0, 1}, out);
        assertThrows(IllegalArgumentException.class, () -> CpuKernels.embedding(out, table, new int[] {3}, 2));
    }

    @Test
    void rmsNormDividesByTheRootMeanSquareAndScales() {
        // Row [3, 4]: mean of squares 12.5; row [1, 1]: 1.
        float[] x = {3, 4, 1, 1};
        float[] out = new float[4];
        CpuKernels.rmsNorm(out, x, new float[] {1, 2}, 2, 2, 0f);
        double r = Math.sqrt(12.5);
        assertArrayEquals(new float[] {(float) (3 / r), (float) (8 / r), 1, 2}, out, 1e-6f);
    }

    @Test
    void rmsNormAddsEpsilonInsideTheRoot() {
        float[] out = new float[1];
        CpuKernels.rmsNorm(out, new float[] {0.5f}, new float[] {1}, 1, 1, 0.75f);
        assertEquals(0.5f, out[0], 1e-6f); // 0.5 / sqrt(0.25 + 0.75)
    }

    @Test
    void headRmsNormNormalisesEachHeadSeparately() {
        float[] x = {3, 4, 0, 2}; // one token, two heads of dim 2
        CpuKernels.headRmsNorm(x, new float[] {1, 1}, 1, 2, 2, 0f);
        double r = Math.sqrt(12.5);
        assertArrayEquals(new float[] {(float) (3 / r), (float) (4 / r), 0, (float) Math.sqrt(2)}, x, 1e-6f);
    }

    @Test
    void matmulMultipliesByTheTransposedWeightAndAddsBias() {
        float[] x = {1, 2, 3, 4, 5, 6}; // (2, 3)
        float[] w = {1, 0, 0, 0, 1, 1}; // (2, 3): y0 = x0, y1 = x1 + x2
        float[] y = new float[4];
        CpuKernels.matmul(y, x, w, new float[] {10, 20}, 2, 3, 2);
        assertArrayEquals(new float[] {11, 25, 14, 31}, y);
    }

    @Test
    void largeParallelMatmulEqualsNaiveLoop() {
        int n = 5;
        int in = 67;
        int out = 301;
        java.util.Random rnd = new java.util.Random(1);
        float[] x = new float[n * in];
        float[] w = new float[out * in];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat() - 0.5f;
        for (int i = 0; i < w.length; i++) w[i] = rnd.nextFloat() - 0.5f;
        float[] y = new float[n * out];
        CpuKernels.matmul(y, x, w, null, n, in, out);
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < in; i++) s += (double) x[t * in + i] * w[o * in + i];
                assertEquals(s, y[t * out + o], 1e-5);
            }
        }
    }

    @Test
    void ropeRotatesPairsHalfAHeadApart() {
        // headDim 4: pairs (0, 2) and (1, 3); frequencies 1 and 0.5; position 2 turns by 2 and 1 radians.
        float[] x = {1, 1, 0, 0};
        CpuKernels.rope(x, new int[] {2}, new float[] {1f, 0.5f}, 1, 4);
        assertArrayEquals(new float[] {(float) Math.cos(2), (float) Math.cos(1), (float) Math.sin(2),
                (float) Math.sin(1)}, x, 1e-6f);
    }

    @Test
    void ropeAtPositionZeroIsIdentity() {
        float[] x = {0.3f, -1, 2, 5, 7, 8, 9, 10}; // two heads
        float[] before = x.clone();
        CpuKernels.rope(x, new int[] {0}, new float[] {1f, 0.1f}, 2, 4);
        assertArrayEquals(before, x);
    }

    @Test
    void writeKvPutsEachTokenInItsSlot() {
        float[] kCache = new float[8]; // 4 slots, kvDim 2
        float[] vCache = new float[8];
        CpuKernels.writeKv(kCache, vCache, new float[] {1, 2, 3, 4}, new float[] {5, 6, 7, 8}, new int[] {3, 1}, 2);
        assertArrayEquals(new float[] {0, 0, 3, 4, 0, 0, 1, 2}, kCache);
        assertArrayEquals(new float[] {0, 0, 7, 8, 0, 0, 5, 6}, vCache);
        assertThrows(IllegalArgumentException.class,
                () -> CpuKernels.writeKv(kCache, vCache, new float[2], new float[2], new int[] {4}, 2));
    }

    @Test
    void attentionWeighsValuesBySoftmaxOfScaledScoresThroughTheBlockTable() {
        // pageSize 1, headDim 2, one head. The sequence's positions 0 and 1 sit in pages 2 and 0.
        float[] kCache = {0, 1, 9, 9, 1, 0}; // slots 0..2
        float[] vCache = {0, 10, 9, 9, 4, 0};
        float[] q = {2, 0, // token at position 0: sees only k = (1, 0)
                     0, 1}; // token at position 1: scores 0 (pos 0) and 1/sqrt2 (pos 1)
        ForwardBatch batch = new ForwardBatch(new int[] {7, 8}, new int[] {0, 1}, new int[] {2, 0},
                new int[] {0, 2}, new int[] {2}, new int[][] {{2, 0}}, new int[] {1});
        float[] out = new float[4];
        CpuKernels.attention(out, q, kCache, vCache, batch, 1, 1, 2, 1);
        double e = Math.exp(1 / Math.sqrt(2));
        double p0 = 1 / (1 + e);
        double p1 = e / (1 + e);
        assertArrayEquals(new float[] {4, 0, (float) (p0 * 4), (float) (p1 * 10)}, out, 1e-6f);
    }

    @Test
    void attentionSharesKvHeadsAcrossQueryGroups() {
        // Two query heads, one KV head, one token at position 0: both heads return v.
        float[] out = new float[4];
        ForwardBatch batch = new ForwardBatch(new int[] {0}, new int[] {0}, new int[] {0},
                new int[] {0, 1}, new int[] {1}, new int[][] {{0}}, new int[] {0});
        CpuKernels.attention(out, new float[] {1, 2, 3, 4}, new float[] {1, 1}, new float[] {5, 6}, batch, 2, 1, 2, 1);
        assertArrayEquals(new float[] {5, 6, 5, 6}, out);
    }

    @Test
    void attentionRejectsAPositionBeyondTheContextLength() {
        ForwardBatch batch = new ForwardBatch(new int[] {0}, new int[] {1}, new int[] {1},
                new int[] {0, 1}, new int[] {1}, new int[][] {{0}}, new int[] {0});
        assertThrows(IllegalArgumentException.class, () -> CpuKernels.attention(new float[2], new float[2],
                new float[4], new float[4], batch, 1, 1, 2, 2));
    }

    @Test
    void swigluIsSiluOfGateTimesUp() {
        float[] out = new float[3];
        CpuKernels.swiglu(out, new float[] {0, 1, -2}, new float[] {5, 2, 3}, 3);
        double silu1 = 1 / (1 + Math.exp(-1));
        double siluM2 = -2 / (1 + Math.exp(2));
        assertArrayEquals(new float[] {0, (float) (2 * silu1), (float) (3 * siluM2)}, out, 1e-6f);
    }

    @Test
    void residualAddAndGatherRows() {
        float[] x = {1, 2, 3, 4, 5, 6};
        CpuKernels.residualAdd(x, new float[] {1, 1, 1, 1, 1, 1}, 6);
        assertArrayEquals(new float[] {2, 3, 4, 5, 6, 7}, x);
        assertArrayEquals(new float[] {6, 7, 2, 3}, CpuKernels.gatherRows(x, new int[] {2, 0}, 2));
    }
}
