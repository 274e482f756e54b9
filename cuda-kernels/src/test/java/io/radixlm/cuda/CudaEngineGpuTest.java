package io.radixlm.cuda;

import io.radixlm.backend.Backend;
import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.engine.EngineOptions;
import io.radixlm.engine.LlmEngine;
import io.radixlm.engine.Request;
import io.radixlm.engine.RequestOutput;
import io.radixlm.engine.TokenListener;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.testing.Golden;
import io.radixlm.testing.ModelReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole engine (scheduler, radix cache, continuous batching, CUDA graphs for decode) on the CUDA
 * backend. Greedy tokens must equal the reference's; a divergence is accepted only at a near-tie
 * (the CPU reference's top-two logits closer than 1e-2 at that position), and is reported.
 */
@Tag("gpu")
class CudaEngineGpuTest {

    static List<String> models() { return Golden.MODEL_NAMES; }

    private static SamplingParams greedyIgnoringEos(int maxTokens) {
        return new SamplingParams(0, 0, 1, 0, 0, maxTokens, List.of(), true);
    }

    @ParameterizedTest
    @MethodSource("models")
    void greedyTokensEqualTransformersOnCuda(String name) {
        GpuTestSupport.device();
        ModelReference ref = Golden.modelReference(name);
        Path dir = Golden.modelDir(name);
        ModelConfig config = ConfigLoader.load(dir);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             LlmEngine engine = new LlmEngine(new CudaBackend(config, weights, 0.9), null, config.eosTokenIds(),
                     new EngineOptions(16, 64, 2048, 8))) {
            RequestOutput out = engine.generate(List.of(new Request("g", ref.greedy().prompt(),
                    greedyIgnoringEos(ref.greedy().tokens().length), "")), TokenListener.NONE).getFirst();
            assertSameUpToNearTie(config, weights, ref.greedy().prompt(), ref.greedy().tokens(), out.outputIds(), name);
        }
    }

    @Test
    void aStarvedPoolWithEvictionAndPreemptionGivesTheTokensOfALargePool() {
        GpuTestSupport.device();
        Random random = new Random(12);
        int[] shared = random.ints(40, 0, 384).toArray();
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            int[] prompt = concat(Arrays.copyOf(shared, 10 + 5 * i), random.ints(20 + 7 * i, 0, 384).toArray());
            requests.add(new Request("r" + i, prompt, greedyIgnoringEos(12 + 3 * i), ""));
        }
        Path dir = Golden.modelDir("qwen3_qknorm");
        ModelConfig config = ConfigLoader.load(dir);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            Function<EngineOptions, List<RequestOutput>> run = options -> {
                try (LlmEngine engine = new LlmEngine(new CudaBackend(config, weights, 0.9), null, List.of(), options)) {
                    return engine.generate(requests, TokenListener.NONE);
                }
            };
            List<RequestOutput> large = run.apply(new EngineOptions(16, 128, 2048, 8));
            List<RequestOutput> small = run.apply(new EngineOptions(16, 12, 48, 8));
            for (int i = 0; i < requests.size(); i++) {
                assertSameUpToNearTie(config, weights, requests.get(i).promptIds(), large.get(i).outputIds(),
                        small.get(i).outputIds(), "request " + i);
            }
        }
    }

    /** Equal tokens, or a first divergence where the CPU reference itself sees a near-tie (then the rest may differ). */
    private static void assertSameUpToNearTie(ModelConfig config, SafetensorsWeights weights, int[] prompt,
                                              int[] expected, int[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": number of tokens");
        int k = 0;
        while (k < expected.length && expected[k] == actual[k]) k++;
        if (k == expected.length) {
            System.err.println("[gpu-test] " + what + ": all " + k + " greedy tokens equal");
            return;
        }
        int[] context = concat(prompt, Arrays.copyOf(expected, k));
        double gap = cpuTopTwoGap(config, weights, context);
        System.err.printf("[gpu-test] %s: tokens equal up to %d of %d, then %d vs %d where the CPU's top-2 gap is %.2e%n",
                what, k, expected.length, expected[k], actual[k], gap);
        assertTrue(gap < GpuVerifier.NEAR_TIE_GAP, what + ": diverged at token " + k + " although the top-2 gap is " + gap);
    }

    /** The gap between the CPU reference's two largest logits after the context. */
    private static double cpuTopTwoGap(ModelConfig config, SafetensorsWeights weights, int[] context) {
        int pages = ForwardBatchBuilder.pagesFor(context.length, 16);
        try (Backend cpu = new CpuBackend(config, weights)) {
            cpu.allocateKvCache(pages, 16);
            float[] logits = cpu.forward(new ForwardBatchBuilder(16)
                    .add(context, 0, ForwardBatchBuilder.consecutivePages(0, pages)).buildLastRows());
            float[] sorted = logits.clone();
            Arrays.sort(sorted);
            return sorted[sorted.length - 1] - sorted[sorted.length - 2];
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
