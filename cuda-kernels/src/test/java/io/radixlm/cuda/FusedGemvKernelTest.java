package io.radixlm.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which model shapes the fused 1-token path takes (no GPU needed); CudaBackend runs the others unfused. */
class FusedGemvKernelTest {
    @Test
    void takesTheShapesOfRealModels() {
        assertTrue(FusedGemvKernel.supports(4096, 4096, 14336), "Llama 3 8B");
        assertTrue(FusedGemvKernel.supports(2048, 2048, 8192), "Llama 3.2 1B");
        assertTrue(FusedGemvKernel.supports(1024, 2048, 3072), "Qwen3 0.6B");
        assertTrue(FusedGemvKernel.supports(8192, 8192, 28672), "Llama 3 70B");
        assertTrue(FusedGemvKernel.supports(288, 288, 768), "stories15M");
    }

    @Test
    void refusesRaggedRowsAndNormedRowsPastSharedMemory() {
        assertFalse(FusedGemvKernel.supports(36, 64, 64), "hidden not a multiple of 8");
        assertFalse(FusedGemvKernel.supports(64, 36, 64), "q width not a multiple of 8");
        assertFalse(FusedGemvKernel.supports(64, 64, 100), "intermediate not a multiple of 8");
        assertFalse(FusedGemvKernel.supports(FusedGemvKernel.MAX_NORM_IN + 8, 64, 64), "normed row over 32 KB");
        assertTrue(FusedGemvKernel.supports(FusedGemvKernel.MAX_NORM_IN, 64, 64), "normed row of exactly 32 KB");
    }
}
