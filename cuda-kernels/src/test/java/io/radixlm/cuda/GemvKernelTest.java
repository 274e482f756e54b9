package io.radixlm.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which products the GEMV kernel takes (no GPU needed): what it refuses, {@link Linear} sends to cuBLAS. */
class GemvKernelTest {
    private static final long ALIGNED = 1L << 20;

    @Test
    void takesOneToEightRowsOfWhole16ByteChunks() {
        for (int rows = 1; rows <= 8; rows++) assertTrue(GemvKernel.supports(rows, 8, ALIGNED, ALIGNED), "rows " + rows);
        assertTrue(GemvKernel.supports(1, 14336, ALIGNED + 16, ALIGNED + 32));
    }

    @Test
    void refusesOtherRowCountsRaggedRowsAndMisalignedOperands() {
        assertFalse(GemvKernel.supports(0, 64, ALIGNED, ALIGNED), "no rows");
        assertFalse(GemvKernel.supports(9, 64, ALIGNED, ALIGNED), "more rows than the largest instantiation");
        assertFalse(GemvKernel.supports(1, 36, ALIGNED, ALIGNED), "rows not a multiple of 8 elements");
        assertFalse(GemvKernel.supports(1, 0, ALIGNED, ALIGNED), "empty rows");
        assertFalse(GemvKernel.supports(1, 64, ALIGNED + 8, ALIGNED), "x not 16-byte aligned");
        assertFalse(GemvKernel.supports(1, 64, ALIGNED, ALIGNED + 2), "w not 16-byte aligned");
    }

    @Test
    void oProjPrefetchTakesTheWholeLaterWavesThatFitTheBudget() {
        long row = 16 << 10; // 2 rows of 4096 bf16 a CTA
        // 8B o_proj: 2048 CTAs, 792 resident: two later waves of 12.4 MB each
        assertEquals(1, FusedGemvKernel.prefetchWaves(2048, 792, row, 24L << 20), "24 MB holds one wave");
        assertEquals(2, FusedGemvKernel.prefetchWaves(2048, 792, row, 32L << 20), "32 MB holds both");
        assertEquals(2, FusedGemvKernel.prefetchWaves(2048, 792, row, 1L << 40), "never more waves than the grid has");
        assertEquals(0, FusedGemvKernel.prefetchWaves(2048, 792, row, 12L << 20), "less than a wave: none");
        assertEquals(0, FusedGemvKernel.prefetchWaves(792, 792, row, 1L << 40), "a single wave has nothing later");
        assertEquals(1, FusedGemvKernel.prefetchWaves(793, 792, row, 1L << 40), "one CTA in the second wave");
        assertEquals(0, FusedGemvKernel.prefetchWaves(2048, 792, row, 0), "budget 0 turns it off");
        assertThrows(IllegalArgumentException.class, () -> FusedGemvKernel.prefetchWaves(0, 792, row, 1));
    }
}
