package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.Sampler;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.testing.Golden;
import io.radixlm.testing.ModelReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The whole engine on the CPU backend against HF transformers' greedy tokens, and its cache invariants. */
class GoldenEngineTest {

    static List<String> models() { return Golden.MODEL_NAMES; }

    /** Passes everything through to a backend and keeps the logits of the latest forward. */
    private static final class RecordingBackend implements Backend {
        private final Backend inner;
        float[] lastLogits;

        RecordingBackend(Backend inner) { this.inner = inner; }

        @Override public String name() { return inner.name(); }
        @Override public ModelConfig config() { return inner.config(); }
        @Override public void allocateKvCache(int numPages, int pageSize) { inner.allocateKvCache(numPages, pageSize); }
        @Override public int maxKvPages(int pageSize) { return inner.maxKvPages(pageSize); }
        @Override public float[] forward(ForwardBatch batch) {
            lastLogits = inner.forward(batch);
            return lastLogits;
        }
        @Override public void close() { inner.close(); }
    }

    private static SamplingParams greedyIgnoringEos(int maxTokens) {
        return new SamplingParams(0, 0, 1, 0, 0, maxTokens, List.of(), true);
    }

    @ParameterizedTest
    @MethodSource("models")
    void greedyTokensEqualTransformers(String name) {
        ModelReference ref = Golden.modelReference(name);
        try (LoadedModel model = LoadedModel.load(Golden.modelDir(name), s -> { });
             LlmEngine engine = new LlmEngine(new CpuBackend(model.config(), model.weights()), null,
                     model.eosTokenIds(), new EngineOptions(16, 64, 2048, 8))) {
            RequestOutput out = engine.generate(List.of(new Request("g", ref.greedy().prompt(),
                    greedyIgnoringEos(ref.greedy().tokens().length), "")), TokenListener.NONE).getFirst();
            assertArrayEquals(ref.greedy().tokens(), out.outputIds());
        }
    }

    @Test
    void aSixtyFourTokenPrefixHitGivesBitwiseTheColdLogits() {
        Random random = new Random(11);
        int[] shared = random.ints(64, 0, 384).toArray();
        int[] first = concat(shared, random.ints(37, 0, 384).toArray());
        int[] second = concat(shared, random.ints(21, 0, 384).toArray());
        second[64] = (first[64] + 1) % 384;   // they part right after the shared 64 tokens
        try (LoadedModel model = LoadedModel.load(Golden.modelDir("llama3_gqa"), s -> { })) {
            float[] cold;
            try (RecordingBackend backend = new RecordingBackend(new CpuBackend(model.config(), model.weights()));
                 LlmEngine engine = new LlmEngine(backend, null, List.of(), new EngineOptions(16, 64, 2048, 8))) {
                RequestOutput out = engine.generate(List.of(new Request("cold", second, greedyIgnoringEos(1), "")),
                        TokenListener.NONE).getFirst();
                assertEquals(0, out.cachedTokens());
                cold = backend.lastLogits;
            }
            try (RecordingBackend backend = new RecordingBackend(new CpuBackend(model.config(), model.weights()));
                 LlmEngine engine = new LlmEngine(backend, null, List.of(), new EngineOptions(16, 64, 2048, 8))) {
                engine.generate(List.of(new Request("first", first, greedyIgnoringEos(3), "")), TokenListener.NONE);
                RequestOutput out = engine.generate(List.of(new Request("warm", second, greedyIgnoringEos(1), "")),
                        TokenListener.NONE).getFirst();
                assertEquals(64, out.cachedTokens());
                assertEquals(64, out.cacheReport().divergedAt());
                assertArrayEquals(cold, backend.lastLogits, "logits after a prefix hit equal a cold prefill, bit for bit");
            }
        }
    }

    @Test
    void aPoolTooSmallForTheWorkloadGivesTheSameTokensAsALargeOne() {
        Random random = new Random(12);
        int[] shared = random.ints(40, 0, 384).toArray();
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            int[] prompt = concat(Arrays.copyOf(shared, 10 + 5 * i), random.ints(20 + 7 * i, 0, 384).toArray());
            requests.add(new Request("r" + i, prompt, greedyIgnoringEos(12 + 3 * i), ""));
        }
        try (LoadedModel model = LoadedModel.load(Golden.modelDir("qwen3_qknorm"), s -> { })) {
            List<RequestOutput> large = run(model, requests, new EngineOptions(16, 128, 2048, 8));
            List<RequestOutput> small = run(model, requests, new EngineOptions(16, 12, 48, 8));
            for (int i = 0; i < requests.size(); i++) {
                assertArrayEquals(large.get(i).outputIds(), small.get(i).outputIds(), "request " + i);
            }
        }
    }

    /**
     * Sampled requests batched together, in a pool too small to hold them all at once (evictions, preemption),
     * draw the tokens of a plain loop: whole-sequence logits, then the Sampler at step = tokens generated so far.
     */
    @Test
    void sampledTokensAreThoseOfAStepByStepReferenceWhateverTheBatching() {
        Random random = new Random(21);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            SamplingParams params = new SamplingParams(1.2, i == 0 ? 0 : 50, i == 1 ? 1 : 0.9, i == 2 ? 0.05 : 0,
                    1000 + i, 10 + 2 * i, List.of(), true);
            requests.add(new Request("s" + i, random.ints(25 + 6 * i, 0, 384).toArray(), params, ""));
        }
        try (LoadedModel model = LoadedModel.load(Golden.modelDir("llama3_gqa"), s -> { })) {
            List<RequestOutput> batched = run(model, requests, new EngineOptions(16, 10, 48, 8));
            try (LlmEngine reference = new LlmEngine(new CpuBackend(model.config(), model.weights()), null, List.of(),
                    new EngineOptions(16, 64, 2048, 8))) {
                int vocab = model.config().vocabSize();
                for (int r = 0; r < requests.size(); r++) {
                    Request request = requests.get(r);
                    int[] tokens = request.promptIds();
                    int[] expected = new int[request.params().maxTokens()];
                    for (int step = 0; step < expected.length; step++) {
                        float[] logits = reference.promptLogits(tokens);
                        expected[step] = new Sampler(request.params()).sample(logits, (tokens.length - 1) * vocab, vocab, step);
                        tokens = concat(tokens, new int[] {expected[step]});
                    }
                    assertArrayEquals(expected, batched.get(r).outputIds(), "request " + r);
                }
            }
        }
    }

    private static List<RequestOutput> run(LoadedModel model, List<Request> requests, EngineOptions options) {
        try (LlmEngine engine = new LlmEngine(new CpuBackend(model.config(), model.weights()), null, List.of(), options)) {
            return engine.generate(requests, TokenListener.NONE);
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
