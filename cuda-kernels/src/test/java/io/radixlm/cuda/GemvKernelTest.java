package io.radixlm.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
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
}
