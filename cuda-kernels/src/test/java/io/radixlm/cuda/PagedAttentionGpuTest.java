package io.radixlm.cuda;

import io.radixlm.cuda.AttentionCase.Seq;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.BF16_TOLERANCE;
import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Paged attention + reduce against a plain softmax(q·kᵀ/√d)·v over the same bf16 cache, for batches
 * mixing prefill and decode, pages scattered at random through the pool.
 */
@Tag("gpu")
class PagedAttentionGpuTest {
    private static final int PAGE_SIZE = 16;
    private final Random random = new Random();

    private AttentionCase newCase(int numHeads, int numKvHeads, int headDim, List<Seq> seqs) {
        return new AttentionCase(random, numHeads, numKvHeads, headDim, PAGE_SIZE, seqs);
    }

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, split {3}")
    @CsvSource({"8, 8, 64, 256", "16, 4, 128, 256", "32, 4, 128, 64", "8, 1, 64, 16", "28, 4, 128, 512", "32, 32, 128, 256",
            "6, 6, 48, 256", "4, 2, 32, 16", "12, 3, 96, 128"})
    void mixedBatchOfPrefillAndDecodeMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim, int splitSize) {
        CudaDevice device = device();
        // prefills of awkward lengths (whole prompt new), a prefix hit (only the suffix new), decodes up to 4097
        List<Seq> seqs = List.of(new Seq(1, 1), new Seq(15, 15), new Seq(16, 16), new Seq(17, 17),
                new Seq(300, 236), new Seq(17, 1), new Seq(300, 1), new Seq(4097, 1), new Seq(16, 1));
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, seqs);
        double error = relativeError(c.runPaged(device, splitSize), c.reference());
        assertTrue(error < BF16_TOLERANCE, "attention error " + error);
    }

    @ParameterizedTest(name = "prefill of 4097 tokens, heads {0}/{1}, head_dim {2}")
    @CsvSource({"8, 1, 64", "4, 4, 128"})
    void longCausalPrefillMatchesSoftmaxReference(int numHeads, int numKvHeads, int headDim) {
        CudaDevice device = device();
        AttentionCase c = newCase(numHeads, numKvHeads, headDim, List.of(new Seq(4097, 4097)));
        double error = relativeError(c.runPaged(device, 256), c.reference());
        assertTrue(error < BF16_TOLERANCE, "attention error " + error);
    }

    @Test
    void prefillAfterAPrefixHitEqualsTheColdPrefillBitForBit() {
        CudaDevice device = device();
        // The same cache and queries: a cold prefill of 300 tokens and a prefill of the 236 tokens after
        // a 64-token prefix hit must give the suffix rows identical bits.
        AttentionCase cold = newCase(16, 4, 128, List.of(new Seq(300, 300)));
        float[] coldOut = cold.runPaged(device, 256);
        AttentionCase hit = newCase(16, 4, 128, List.of(new Seq(300, 236)));
        System.arraycopy(cold.kCache, 0, hit.kCache, 0, cold.kCache.length);
        System.arraycopy(cold.vCache, 0, hit.vCache, 0, cold.vCache.length);
        System.arraycopy(cold.blockTables, 0, hit.blockTables, 0, cold.blockTables.length);
        int rowWidth = 16 * 128;
        System.arraycopy(cold.q, 64 * rowWidth, hit.q, 0, 236 * rowWidth);
        float[] hitOut = hit.runPaged(device, 256);
        assertArrayEquals(Arrays.copyOfRange(coldOut, 64 * rowWidth, 300 * rowWidth), hitOut);
        double error = relativeError(hitOut, hit.reference());
        assertTrue(error < BF16_TOLERANCE, "attention error " + error);
    }
}
