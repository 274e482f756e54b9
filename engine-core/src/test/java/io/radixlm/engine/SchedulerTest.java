package io.radixlm.engine;

import io.radixlm.kv.CacheReport;
import io.radixlm.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine's paging, batching, prefix reuse, eviction and preemption against a context-hash model. */
class SchedulerTest {
    private static final int PAGE = 4;

    private static int[] expectedOutput(int[] prompt, int maxTokens) {
        int[] all = Arrays.copyOf(prompt, prompt.length + maxTokens);
        for (int i = prompt.length; i < all.length; i++) all[i] = ContextHashBackend.next(all, i);
        return Arrays.copyOfRange(all, prompt.length, all.length);
    }

    private static SamplingParams params(int maxTokens) {
        return new SamplingParams(0, 0, 1, 0, 0, maxTokens, List.of(), true);
    }

    private static int[] randomPrompt(Random random, int[] prefix, int length) {
        int[] p = Arrays.copyOf(prefix, length);
        for (int i = prefix.length; i < length; i++) p[i] = random.nextInt(ContextHashBackend.VOCAB);
        return p;
    }

    @Test
    void concurrentRequestsDecodeTheirOwnContexts() {
        try (LlmEngine engine = new LlmEngine(new ContextHashBackend(512), null, List.of(),
                new EngineOptions(PAGE, 200, 32, 8))) {
            Random random = new Random(1);
            List<Request> requests = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                requests.add(new Request("r" + i, randomPrompt(random, new int[0], 1 + random.nextInt(40)),
                        params(1 + random.nextInt(30)), ""));
            }
            List<RequestOutput> outputs = engine.generate(requests, TokenListener.NONE);
            for (int i = 0; i < requests.size(); i++) {
                Request r = requests.get(i);
                assertArrayEquals(expectedOutput(r.promptIds(), r.params().maxTokens()), outputs.get(i).outputIds(),
                        "request " + i);
                assertEquals(FinishReason.LENGTH, outputs.get(i).finishReason());
            }
        }
    }

    @Test
    void secondRequestReusesWholePagesOfTheFirstAndComputesOnlyTheRest() {
        ContextHashBackend backend = new ContextHashBackend(512);
        try (LlmEngine engine = new LlmEngine(backend, null, List.of(), new EngineOptions(PAGE, 64, 64, 4))) {
            Random random = new Random(2);
            int[] first = randomPrompt(random, new int[0], 22);
            int[] second = randomPrompt(random, Arrays.copyOf(first, 13), 30);  // shares 13 tokens: 3 pages
            engine.generate(List.of(new Request("a", first, params(5), "")), TokenListener.NONE);
            int before = backend.numForwardTokens;
            RequestOutput out = engine.generate(List.of(new Request("b", second, params(5), "")),
                    TokenListener.NONE).getFirst();
            assertEquals(12, out.cachedTokens());
            assertEquals(30 - 12 + 4, backend.numForwardTokens - before); // suffix prefill + 4 decodes
            assertArrayEquals(expectedOutput(second, 5), out.outputIds());
            assertEquals(CacheReport.Outcome.DIVERGED, out.cacheReport().outcome());
            assertEquals(13, out.cacheReport().divergedAt());
        }
    }

    @Test
    void namespacesNeverShare() {
        try (LlmEngine engine = new LlmEngine(new ContextHashBackend(512), null, List.of(),
                new EngineOptions(PAGE, 64, 64, 4))) {
            int[] prompt = randomPrompt(new Random(3), new int[0], 20);
            engine.generate(List.of(new Request("a", prompt, params(2), "alice")), TokenListener.NONE);
            RequestOutput other = engine.generate(List.of(new Request("b", prompt, params(2), "bob")),
                    TokenListener.NONE).getFirst();
            RequestOutput same = engine.generate(List.of(new Request("c", prompt, params(2), "alice")),
                    TokenListener.NONE).getFirst();
            assertEquals(0, other.cachedTokens());
            assertEquals(16, same.cachedTokens());
            assertArrayEquals(same.outputIds(), other.outputIds());
        }
    }

    @Test
    void aPoolTooSmallForTheWorkloadEvictsAndPreemptsButGivesTheSameOutputs() {
        Random random = new Random(4);
        int[] shared = randomPrompt(random, new int[0], 24);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            int[] prompt = randomPrompt(random, Arrays.copyOf(shared, 5 + random.nextInt(20)), 25 + random.nextInt(20));
            requests.add(new Request("r" + i, prompt, params(10 + random.nextInt(30)), ""));
        }
        List<RequestOutput> large;
        try (LlmEngine engine = new LlmEngine(new ContextHashBackend(512), null, List.of(),
                new EngineOptions(PAGE, 1000, 64, 16))) {
            large = engine.generate(requests, TokenListener.NONE);
        }
        try (LlmEngine engine = new LlmEngine(new ContextHashBackend(512), null, List.of(),
                new EngineOptions(PAGE, 24, 16, 16))) {   // 24 pages of 4: two sequences at most
            List<RequestOutput> small = engine.generate(requests, TokenListener.NONE);
            for (int i = 0; i < requests.size(); i++) {
                assertArrayEquals(large.get(i).outputIds(), small.get(i).outputIds(), "request " + i);
                assertArrayEquals(expectedOutput(requests.get(i).promptIds(), requests.get(i).params().maxTokens()),
                        small.get(i).outputIds());
            }
            // Everything was returned: a fresh full-size request still fits after eviction.
            int[] big = randomPrompt(random, new int[0], 24 * PAGE - 1);
            RequestOutput last = engine.generate(List.of(new Request("big", big, params(1), "")),
                    TokenListener.NONE).getFirst();
            assertArrayEquals(expectedOutput(big, 1), last.outputIds());
        }
    }

    @Test
    void eosAndMaxTokensAndContextEndGeneration() {
        int[] prompt = randomPrompt(new Random(5), new int[0], 10);
        int[] expected = expectedOutput(prompt, 20);
        int eos = expected[3];
        int firstEos = 0;
        while (expected[firstEos] != eos) firstEos++;
        try (LlmEngine engine = new LlmEngine(new ContextHashBackend(16), null, List.of(eos),
                new EngineOptions(PAGE, 64, 64, 4))) {
            RequestOutput stopped = engine.generate(List.of(new Request("e", prompt,
                    new SamplingParams(0, 0, 1, 0, 0, 20, List.of(), false), "")), TokenListener.NONE).getFirst();
            assertEquals(FinishReason.EOS, stopped.finishReason());
            assertEquals(firstEos + 1, stopped.outputIds().length);
            RequestOutput full = engine.generate(List.of(new Request("c", prompt, params(20), "")),
                    TokenListener.NONE).getFirst();
            assertEquals(FinishReason.LENGTH, full.finishReason());
            assertEquals(6, full.outputIds().length, "context of 16 holds 10 prompt + 6 generated tokens");
        }
    }

    @Test
    void promptLongerThanContextOrOutsideVocabularyIsRejected() {
        try (LlmEngine engine = new LlmEngine(new ContextHashBackend(16), null, List.of(),
                new EngineOptions(PAGE, 64, 64, 4))) {
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () ->
                    engine.generate(List.of(new Request("x", new int[17], params(1), "")), TokenListener.NONE));
            assertTrue(tooLong.getMessage().contains("longer than the model's context"), tooLong.getMessage());
            IllegalArgumentException badId = assertThrows(IllegalArgumentException.class, () ->
                    engine.generate(List.of(new Request("y", new int[] {1, 97}, params(1), "")), TokenListener.NONE));
            assertTrue(badId.getMessage().contains("outside the vocabulary"), badId.getMessage());
        }
    }
}
