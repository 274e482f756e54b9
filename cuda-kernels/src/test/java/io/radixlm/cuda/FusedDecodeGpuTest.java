package io.radixlm.cuda;

import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.testing.Golden;
import io.radixlm.testing.NpyArray;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused 1-token path of CudaBackend (FusedGemvKernel) on every golden model: a sequence decoded one token
 * at a time from context 1 (the first step is a 1-token prefill, its residual the embedding) past two page
 * boundaries, pages in reverse order, fused (graph-replayed, bucket 1, and eager) against the unfused kernels
 * (logits within 1e-3, greedy ids equal where the unfused logits have no near-tie), against the CPU reference
 * backend and against transformers.
 */
@Tag("gpu")
class FusedDecodeGpuTest {
    private static final int PAGE_SIZE = 16;
    private static final int NUM_PAGES = 64;
    private static final int LENGTH = 33;
    private static final double BF16_LOGITS_TOLERANCE = 1e-2;
    private static final double FUSED_VS_UNFUSED_TOLERANCE = 1e-3;

    static Stream<String> modelNames() { return Golden.MODEL_NAMES.stream(); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modelNames")
    void fusedDecodeMatchesUnfusedAndTransformers(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int vocab = config.vocabSize();
        int[] ids = Golden.modelReference(model).sequence(LENGTH).ids();
        NpyArray reference = Golden.referenceLogits(model, LENGTH);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend graphed = new CudaBackend(config, weights, 0.9);
             CudaBackend eager = new CudaBackend(config, weights, 0.9);
             CudaBackend unfused = new CudaBackend(config, weights, 0.9);
             CpuBackend cpu = new CpuBackend(config, weights)) {
            eager.setGraphsEnabled(false);
            unfused.setFusedDecodeEnabled(false);
            assertTrue(graphed.fusesStep(1, null), model + ": the golden models must take the fused path");
            assertFalse(graphed.fusesStep(2, null), "steps of several tokens stay unfused");
            assertFalse(unfused.fusesStep(1, null), "the switch must turn the fused path off");
            for (CudaBackend gpu : new CudaBackend[] {graphed, eager, unfused}) gpu.allocateKvCache(NUM_PAGES, PAGE_SIZE);
            cpu.allocateKvCache(NUM_PAGES, PAGE_SIZE);
            double worstVsUnfused = 0;
            double worstVsEager = 0;
            double worstVsReference = 0;
            double worstVsCpu = 0;
            for (int pos = 0; pos < LENGTH; pos++) {
                ForwardBatch step = oneToken(ids, pos);
                float[] fused = graphed.forward(step);
                float[] fusedEager = eager.forward(step);
                float[] separate = unfused.forward(step);
                worstVsUnfused = Math.max(worstVsUnfused, Golden.relativeError(fused, separate));
                worstVsEager = Math.max(worstVsEager, Golden.relativeError(fused, fusedEager));
                worstVsReference = Math.max(worstVsReference, Golden.relativeError(fused, reference.row(pos)));
                worstVsCpu = Math.max(worstVsCpu, Golden.relativeError(fused, cpu.forward(step)));
                assertEquals(0, greedyDisagreements(fused, separate, vocab), model + " position " + pos + ": greedy ids");
            }
            System.err.printf("[gpu-test] %s fused 1-token decode, %d steps: rel. difference %.1e vs unfused, %.1e graph vs eager,"
                    + " rel. error %.1e vs transformers, %.1e vs the CPU backend%n", model, LENGTH, worstVsUnfused, worstVsEager,
                    worstVsReference, worstVsCpu);
            assertTrue(worstVsUnfused <= FUSED_VS_UNFUSED_TOLERANCE, "fused vs unfused " + worstVsUnfused);
            assertTrue(worstVsEager <= FUSED_VS_UNFUSED_TOLERANCE, "graph vs eager " + worstVsEager);
            assertTrue(worstVsReference <= BF16_LOGITS_TOLERANCE, "vs transformers " + worstVsReference);
            assertTrue(worstVsCpu <= BF16_LOGITS_TOLERANCE, "vs the CPU backend " + worstVsCpu);
        }
    }

    @Test
    void theProfiledDecodeStepRunsTheFusedKernelsAndTheSwitchBringsTheOldOnesBack() {
        GpuTestSupport.device();
        String model = "llama3_gqa";
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(LENGTH).ids();
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.allocateKvCache(NUM_PAGES, PAGE_SIZE);
            for (int pos = 0; pos < 20; pos++) gpu.forward(oneToken(ids, pos));
            Map<String, OpTimeline.OpTime> fused = gpu.profile(oneToken(ids, 20), 2);
            System.err.println("[gpu-test] fused decode step ops: " + fused.keySet());
            for (String op : new String[] {"norm_qkv_proj", "o_proj_add", "norm_gate_up_swiglu", "down_proj_add"}) {
                assertTrue(fused.containsKey(op), "missing " + op + " in " + fused.keySet());
            }
            for (String op : new String[] {"attn_norm", "mlp_norm", "swiglu", "qkv_proj"}) {
                assertFalse(fused.containsKey(op), op + " should be fused away: " + fused.keySet());
            }
            gpu.setFusedDecodeEnabled(false);
            Map<String, OpTimeline.OpTime> separate = gpu.profile(oneToken(ids, 20), 2);
            assertTrue(separate.containsKey("swiglu") && separate.containsKey("attn_norm"), "unfused ops: " + separate.keySet());
        }
    }

    /** Token pos of ids as the only new token of its sequence; page p of the sequence is page NUM_PAGES - 1 - p. */
    private static ForwardBatch oneToken(int[] ids, int pos) {
        int[] table = new int[pos / PAGE_SIZE + 1];
        for (int p = 0; p < table.length; p++) table[p] = NUM_PAGES - 1 - p;
        int slot = table[pos / PAGE_SIZE] * PAGE_SIZE + pos % PAGE_SIZE;
        return new ForwardBatch(new int[] {ids[pos]}, new int[] {pos}, new int[] {slot}, new int[] {0, 1},
                new int[] {pos + 1}, new int[][] {table}, new int[] {0});
    }

    /** Rows whose argmax differs although the reference's top two logits are at least 1e-2 apart. */
    private static int greedyDisagreements(float[] actual, float[] reference, int vocab) {
        int count = 0;
        for (int r = 0; r < reference.length / vocab; r++) {
            int best = 0;
            int second = -1;
            int actualBest = 0;
            for (int i = 1; i < vocab; i++) {
                float value = reference[r * vocab + i];
                if (value > reference[r * vocab + best]) {
                    second = best;
                    best = i;
                } else if (second < 0 || value > reference[r * vocab + second]) {
                    second = i;
                }
                if (actual[r * vocab + i] > actual[r * vocab + actualBest]) actualBest = i;
            }
            float gap = reference[r * vocab + best] - reference[r * vocab + second];
            if (actualBest != best && gap >= 1e-2) count++;
        }
        return count;
    }
}
