package io.radixlm.cuda;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Launch geometry of the v2 elementwise kernels, checked without a GPU: rope_qk_norm_kv_write_v2's plan,
 * with its index arithmetic replayed in Java (every q element and every K/V element of a token written
 * exactly once, each rotation partner read from the same head), silu_mul_vec4's and silu_mul_bf16_vec8's grids.
 */
class ElementwisePlanTest {
    @ParameterizedTest
    @CsvSource({"1, 32, 8, 128", "1, 16, 8, 128", "32, 32, 8, 128", "264, 32, 8, 128", "8192, 32, 8, 128",
        "8192, 28, 4, 128", "2049, 32, 8, 64", "7, 12, 4, 96", "1000, 8, 2, 48", "3, 16, 4, 32", "9, 4, 2, 80",
        "5, 4, 1, 256", "3, 2, 1, 2", "1, 64, 8, 128", "100, 64, 64, 64"})
    void ropePlanCoversEveryHeadAndElementOnce(int numTokens, int numHeads, int numKvHeads, int headDim) {
        var shape = new RopeKvWriteKernel.Shape(numHeads, numKvHeads, headDim, numTokens);
        var plan = RopeKvWriteKernel.Plan.of(numTokens, shape, 132);
        int totalHeads = numHeads + numKvHeads;
        assertEquals((headDim + 31) / 32, plan.elementsPerLane());
        assertTrue(plan.gridY() * plan.headsPerCta() >= totalHeads && (plan.gridY() - 1) * plan.headsPerCta() < totalHeads);
        assertTrue(32 * plan.numWarps() >= Math.min(headDim / 2, 32 * RopeKvWriteKernel.Plan.MAX_WARPS), "one round of sincos");
        if (numTokens >= 264) assertEquals(1, plan.gridY(), "a long prefill takes all heads of a token in one block");
        if (numTokens == 1) assertEquals(totalHeads, plan.gridY(), "decode: a block per head");

        // one token's worth of the kernel's loops: block y, warp, head, lane, k
        int qDim = numHeads * headDim;
        int kvDim = numKvHeads * headDim;
        int[] qWrites = new int[qDim];
        int[] kvWrites = new int[kvDim];
        int[] loads = new int[qDim + 2 * kvDim];
        int e = plan.elementsPerLane();
        int half = headDim / 2;
        for (int blockY = 0; blockY < plan.gridY(); blockY++) {
            int headEnd = Math.min((blockY + 1) * plan.headsPerCta(), totalHeads);
            for (int warp = 0; warp < plan.numWarps(); warp++) {
                for (int head = blockY * plan.headsPerCta() + warp; head < headEnd; head += plan.numWarps()) {
                    boolean isQuery = head < numHeads;
                    int kvHead = head - numHeads;
                    int colBase = isQuery ? head * headDim : qDim + kvHead * headDim;
                    for (int lane = 0; lane < 32; lane++) {
                        for (int k = 0; k < e; k++) {
                            int i = lane + 32 * k;
                            assertTrue(i < 32 * e);  // rotateBuf[warp] holds 32 * E
                            if (i >= headDim) continue;
                            int partner = i < half ? i + half : i - half;
                            assertTrue(partner >= 0 && partner < headDim, "partner inside the head");
                            loads[colBase + i]++;
                            if (isQuery) {
                                qWrites[head * headDim + i]++;
                            } else {
                                loads[colBase + kvDim + i]++;
                                kvWrites[kvHead * headDim + i]++;
                            }
                        }
                    }
                }
            }
        }
        for (int n = 0; n < qDim; n++) assertEquals(1, qWrites[n], "q element " + n);
        for (int n = 0; n < kvDim; n++) assertEquals(1, kvWrites[n], "k/v element " + n);
        for (int n = 0; n < loads.length; n++) assertEquals(1, loads[n], "qkv column " + n);
    }

    @ParameterizedTest
    @CsvSource({"8192, 14336", "1, 14336", "1, 4", "70000, 8", "100000, 4096", "8192, 3072", "3, 12"})
    void siluVec4GridCoversEveryQuadAndStaysInOneWave(int numTokens, int intermediate) {
        Dim3 grid = SwigluKernel.vec4Grid(numTokens, intermediate, 132);
        int numQuads = intermediate / 4;
        assertTrue(grid.x() * SwigluKernel.VEC_BLOCK >= numQuads && (grid.x() - 1) * SwigluKernel.VEC_BLOCK < numQuads);
        assertTrue(grid.y() >= 1 && grid.y() <= Math.min(numTokens, 65535));
        assertTrue((long) grid.x() * grid.y() <= Math.max(132 * 16, grid.x()), "at most one wave of 128-thread blocks");
    }

    @ParameterizedTest
    @CsvSource({"8192, 14336", "8192, 28672", "1, 14336", "2, 8", "70000, 16", "100000, 4096", "8192, 4864", "3, 24"})
    void siluBf16Vec8GridCoversEveryOctetAndStaysInOneWave(int numTokens, int intermediate) {
        Dim3 grid = SwigluKernel.vec8Grid(numTokens, intermediate, 132);
        int numOctets = intermediate / 8;
        assertTrue(grid.x() * SwigluKernel.VEC_BLOCK >= numOctets && (grid.x() - 1) * SwigluKernel.VEC_BLOCK < numOctets);
        assertTrue(grid.y() >= 1 && grid.y() <= Math.min(numTokens, 65535));
        assertTrue((long) grid.x() * grid.y() <= Math.max(132 * 16, grid.x()), "at most one wave of 128-thread blocks");
    }

    @ParameterizedTest
    @CsvSource({"14336, 256, 512, true", "8, 0, 16, true", "12, 256, 512, false", "1030, 256, 512, false",
        "14336, 272, 512, true", "14336, 8, 512, false", "14336, 256, 520, false", "14336, 256, 1040, true"})
    void siluBf16TakesTheOctetKernelOnlyForWholeOctetsAndAlignedRows(int intermediate, long gateUp, long out, boolean vec8) {
        assertEquals(vec8, SwigluKernel.usesVec8(gateUp, out, intermediate));
    }
}
