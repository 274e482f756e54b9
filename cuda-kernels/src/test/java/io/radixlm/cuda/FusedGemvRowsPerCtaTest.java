package io.radixlm.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How many weight rows a CTA of the fused GEMVs takes (no GPU needed). */
class FusedGemvRowsPerCtaTest {
    @Test
    void rowsFollowTheInputWidthWhileTheGridKeepsEnoughCtas() {
        // Llama-3.2-1B (2,048 inputs): qkv, o, gate/up and the LM head at 8 rows; down (8,192 inputs, 256 threads) at 8
        assertEquals(8, FusedGemvKernel.rowsPerCta(2048, 3072, true));
        assertEquals(8, FusedGemvKernel.rowsPerCta(2048, 2048, false));
        assertEquals(8, FusedGemvKernel.rowsPerCta(2048, 16384, true));
        assertEquals(8, FusedGemvKernel.rowsPerCta(8192, 2048, false, 256));
        assertEquals(4, FusedGemvKernel.rowsPerCta(8192, 2048, false, 128), "128 threads: 4 rounds of 4 rows");
        // Llama-3.1-8B (4,096 inputs) at 8, down (14,336 inputs, 256 threads) at 4
        assertEquals(8, FusedGemvKernel.rowsPerCta(4096, 4096, false));
        assertEquals(4, FusedGemvKernel.rowsPerCta(14336, 4096, false, 256));
        assertEquals(2, FusedGemvKernel.rowsPerCta(20000, 4096, false, 256), "more than 4 rounds even at 2 rows: 2");
        // Qwen3-0.6B: 1,024-input rows at 4; o (2,048 inputs) and down (3,072) have 1,024 rows: 8 would give 128 CTAs
        assertEquals(4, FusedGemvKernel.rowsPerCta(1024, 4096, false));
        assertEquals(4, FusedGemvKernel.rowsPerCta(2048, 1024, false));
        assertEquals(4, FusedGemvKernel.rowsPerCta(3072, 1024, false));
        // few outputs: 2 rows; pairs that 4 or 8 rows would split: fewer rows
        assertEquals(2, FusedGemvKernel.rowsPerCta(2048, 1001, false));
        assertEquals(2, FusedGemvKernel.rowsPerCta(2048, 2 * 1001, true), "an odd number of pairs");
        assertEquals(4, FusedGemvKernel.rowsPerCta(2048, 2 * 1026, true), "pairs a multiple of 2, not of 4");
        assertEquals(8, FusedGemvKernel.rowsPerCta(2048, 2050, false), "single rows: the last CTA takes fewer");
    }

    @Test
    void theResidualGemvLoadsTwoRoundsAheadOnlyAt128ThreadsAndTwoRoundsOrMore() {
        assertEquals(2, FusedGemvKernel.rounds(2048, 8, 128), "1B's o projection: 256 chunks, 128 a round");
        assertEquals(1, FusedGemvKernel.rounds(2048, 4, 128), "4 rows: 2 chunks a row a round");
        assertEquals(4, FusedGemvKernel.rounds(8192, 8, 256));
        assertEquals(3, FusedGemvKernel.rounds(4104, 4, 128), "513 chunks, 256 a round");
        String a2 = FusedGemvKernel.AHEAD ? "_a2" : "";
        assertEquals("gemv_residual_rows1_o8" + a2, FusedGemvKernel.residualKernel(2048, 8, false));
        assertEquals("gemv_residual_rows1_o8" + a2, FusedGemvKernel.residualKernel(4096, 8, false));
        assertEquals("gemv_residual_rows1_o4", FusedGemvKernel.residualKernel(1024, 4, false), "one round: nothing ahead");
        assertEquals("gemv_residual_rows1", FusedGemvKernel.residualKernel(8, 2, false));
        assertEquals("gemv_residual_rows1_b256_o8", FusedGemvKernel.residualKernel(8192, 8, true), "256 threads: never");
        assertEquals("gemv_residual_rows1_b256", FusedGemvKernel.residualKernel(20000, 2, true));
    }
}
