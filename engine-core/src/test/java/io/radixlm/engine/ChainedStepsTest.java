package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.PendingIds;
import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decode steps enqueued ahead ({@link LlmEngine#CHAIN_STEPS}) against a backend that, like a GPU stream, runs
 * what is enqueued only later and in order: a step runs when the host waits for its ids (or a later step's),
 * its fed tokens taken from the step before. The context-hash model trips on any page written or read out of turn.
 */
class ChainedStepsTest {
    private static final int PAGE = 4;

    /** Steps run in enqueue order when their ids are awaited; fed tokens resolved from the step before. */
    private static final class StreamBackend implements Backend {
        private final ContextHashBackend model;
        private final Deque<Step> queued = new ArrayDeque<>();
        private Step latest;
        int enqueuedBehindAnother; // steps enqueued while an earlier one had not run
        int failingStep = -1;      // the step (counted from 0) whose ids, like CUDA's on NaN logits, cannot be read
        private int numSteps;

        StreamBackend(int maxPositions) { this.model = new ContextHashBackend(maxPositions); }

        private final class Step implements PendingIds {
            final ForwardBatch batch;
            final SamplingParams[] params;
            final int[] steps;
            final Step previous;
            final int number = numSteps++;
            int[] ids;

            Step(ForwardBatch batch, SamplingParams[] params, int[] steps, Step previous) {
                this.batch = batch;
                this.params = params;
                this.steps = steps;
                this.previous = previous;
            }

            @Override
            public int[] await() {
                while (ids == null) {
                    Step next = queued.pollFirst();
                    next.ids = model.forwardSample(next.batch.withFedIds(next.previous == null ? null : next.previous.idsRun()),
                            next.params, next.steps);
                }
                if (number == failingStep) throw new IllegalArgumentException("logit row 0 holds a NaN (step " + number + ")");
                return ids;
            }

            /** The ids once run, whether or not they can be read (a step fed from this one takes them on the device). */
            PendingIds idsRun() { return PendingIds.done(ids); }
        }

        @Override
        public PendingIds forwardSampleAsync(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps,
                                             PendingIds previous) {
            if (batch.fedRows() != null && previous != latest) throw new AssertionError("fed from a step that is not the latest");
            if (!queued.isEmpty()) enqueuedBehindAnother++;
            latest = new Step(batch, rowParams.clone(), rowSteps.clone(), (Step) previous);
            queued.addLast(latest);
            return latest;
        }

        @Override
        public int[] forwardSample(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps) {
            drain();
            return model.forwardSample(batch, rowParams, rowSteps);
        }

        @Override
        public float[] forward(ForwardBatch batch) {
            drain();
            return model.forward(batch);
        }

        private void drain() { if (latest != null) latest.await(); }

        @Override public boolean runsStepsAhead() { return true; }
        @Override public String name() { return "stream"; }
        @Override public ModelConfig config() { return model.config(); }
        @Override public void allocateKvCache(int numPages, int pageSize) { model.allocateKvCache(numPages, pageSize); }
        @Override public int maxKvPages(int pageSize) { return model.maxKvPages(pageSize); }
        @Override public void close() { }
    }

    private record Run(List<RequestOutput> outputs, Map<String, List<Integer>> streamed, int ahead) { }

    private static Run generate(boolean chain, int maxPositions, List<Integer> eos, EngineOptions options,
                                List<Request> requests) {
        StreamBackend backend = new StreamBackend(maxPositions);
        Map<String, List<Integer>> streamed = new HashMap<>();
        try (LlmEngine engine = new LlmEngine(backend, null, eos, options)) {
            engine.setChainSteps(chain);
            List<RequestOutput> outputs = engine.generate(requests,
                    (id, token, delta) -> streamed.computeIfAbsent(id, k -> new ArrayList<>()).add(token));
            return new Run(outputs, streamed, backend.enqueuedBehindAnother);
        }
    }

    private static void assertSameRuns(Run waited, Run chained, List<Request> requests) {
        assertEquals(0, waited.ahead(), "without chaining no step is enqueued behind another");
        assertTrue(chained.ahead() > 0, "some steps were enqueued ahead");
        for (int i = 0; i < requests.size(); i++) {
            RequestOutput a = waited.outputs().get(i);
            RequestOutput b = chained.outputs().get(i);
            assertArrayEquals(a.outputIds(), b.outputIds(), "request " + i);
            assertEquals(a.finishReason(), b.finishReason(), "request " + i);
            assertEquals(a.cachedTokens(), b.cachedTokens(), "request " + i);
            int[] streamedIds = chained.streamed().get(requests.get(i).id()).stream().mapToInt(Integer::intValue).toArray();
            assertArrayEquals(b.outputIds(), streamedIds, "request " + i + ": streamed tokens");
        }
    }

    private static List<Request> requests(Random random, int count, int maxPrompt, int maxTokens, boolean ignoreEos) {
        int[] shared = new int[12];
        for (int i = 0; i < shared.length; i++) shared[i] = random.nextInt(ContextHashBackend.VOCAB);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] prompt = Arrays.copyOf(shared, 1 + random.nextInt(maxPrompt));
            for (int j = Math.min(shared.length, prompt.length); j < prompt.length; j++) {
                prompt[j] = random.nextInt(ContextHashBackend.VOCAB);
            }
            if (random.nextBoolean()) prompt = Arrays.copyOf(shared, Math.min(prompt.length, shared.length));
            requests.add(new Request("r" + i, prompt,
                    new SamplingParams(0, 0, 1, 0, 0, 1 + random.nextInt(maxTokens), List.of(), ignoreEos), ""));
        }
        return requests;
    }

    @Test
    void stepsEnqueuedAheadGiveTheOutputsOfStepsThatWaitAndStopAtEosLengthAndContext() {
        Random random = new Random(11);
        List<Request> requests = requests(random, 14, 30, 40, false);
        EngineOptions options = new EngineOptions(PAGE, 400, 64, 16);
        List<Integer> eos = List.of(3, 50);
        Run waited = generate(false, 48, eos, options, requests);
        Run chained = generate(true, 48, eos, options, requests);
        assertSameRuns(waited, chained, requests);
        long reasons = waited.outputs().stream().map(RequestOutput::finishReason).distinct().count();
        assertEquals(2, reasons, "the workload ends requests both at EOS and at their length");
    }

    @Test
    void stepsEnqueuedAheadSurviveEvictionAndPreemptionInASmallPool() {
        Random random = new Random(12);
        List<Request> requests = requests(random, 10, 40, 30, true);
        Run waited = generate(false, 512, List.of(), new EngineOptions(PAGE, 24, 16, 16), requests);
        Run chained = generate(true, 512, List.of(), new EngineOptions(PAGE, 24, 16, 16), requests);
        assertSameRuns(waited, chained, requests);
        Run roomy = generate(true, 512, List.of(), new EngineOptions(PAGE, 1000, 64, 16), requests);
        for (int i = 0; i < requests.size(); i++) {
            assertArrayEquals(roomy.outputs().get(i).outputIds(), chained.outputs().get(i).outputIds(), "request " + i);
        }
    }

    /**
     * A step whose ids cannot be read (NaN logits on the GPU), and a listener that throws: generate fails, waits for
     * what it enqueued, and gives back every page its unfinished sequences held (none stay locked or leaked); the
     * same engine then serves the requests as a fresh one does. Chained and not.
     */
    @Test
    void aFailedGenerateGivesBackItsPagesAndTheEngineGoesOn() {
        Random random = new Random(14);
        List<Request> requests = requests(random, 8, 30, 25, true);
        EngineOptions options = new EngineOptions(PAGE, 40, 32, 8);
        Run fresh = generate(false, 512, List.of(), options, requests);
        for (boolean chain : new boolean[] {false, true}) {
            for (int failing : new int[] {0, 3, 9}) {
                StreamBackend backend = new StreamBackend(512);
                backend.failingStep = failing;
                try (LlmEngine engine = new LlmEngine(backend, null, List.of(), options)) {
                    engine.setChainSteps(chain);
                    var e = assertThrows(IllegalArgumentException.class, () -> engine.generate(requests, TokenListener.NONE));
                    assertTrue(e.getMessage().contains("step " + failing), e.getMessage());
                    assertEquals(0, engine.numPagesHeld(), "chain " + chain + ", step " + failing + ": pages held after the failure");
                    backend.failingStep = -1;
                    List<RequestOutput> again = engine.generate(requests, TokenListener.NONE);
                    for (int i = 0; i < requests.size(); i++) {
                        assertArrayEquals(fresh.outputs().get(i).outputIds(), again.get(i).outputIds(),
                                "chain " + chain + ", step " + failing + ", request " + i);
                    }
                    assertEquals(0, engine.numPagesHeld());
                }
            }
            StreamBackend backend = new StreamBackend(512);
            try (LlmEngine engine = new LlmEngine(backend, null, List.of(), options)) {
                engine.setChainSteps(chain);
                int[] tokens = {0};
                TokenListener throwing = (id, token, delta) -> {
                    if (++tokens[0] == 20) throw new IllegalStateException("listener gave up");
                };
                assertThrows(IllegalStateException.class, () -> engine.generate(requests, throwing));
                assertEquals(0, engine.numPagesHeld(), "chain " + chain + ": pages held after the listener threw");
                List<RequestOutput> again = engine.generate(requests, TokenListener.NONE);
                for (int i = 0; i < requests.size(); i++) {
                    assertArrayEquals(fresh.outputs().get(i).outputIds(), again.get(i).outputIds(), "request " + i);
                }
            }
        }
    }

    @Test
    void aBackendThatRunsEachStepToCompletionIsNotGivenStepsAhead() {
        ContextHashBackend backend = new ContextHashBackend(512);
        int[] counted = {0};
        Backend counting = new Backend() {
            @Override
            public PendingIds forwardSampleAsync(ForwardBatch batch, SamplingParams[] rowParams, int[] rowSteps,
                                                 PendingIds previous) {
                if (batch.fedRows() != null) counted[0]++;
                return Backend.super.forwardSampleAsync(batch, rowParams, rowSteps, previous);
            }

            @Override public float[] forward(ForwardBatch batch) { return backend.forward(batch); }
            @Override public String name() { return "counting"; }
            @Override public ModelConfig config() { return backend.config(); }
            @Override public void allocateKvCache(int numPages, int pageSize) { backend.allocateKvCache(numPages, pageSize); }
            @Override public int maxKvPages(int pageSize) { return backend.maxKvPages(pageSize); }
            @Override public void close() { }
        };
        List<Request> requests = requests(new Random(13), 6, 20, 20, true);
        try (LlmEngine engine = new LlmEngine(counting, null, List.of(), new EngineOptions(PAGE, 200, 64, 8))) {
            engine.generate(requests, TokenListener.NONE);
        }
        assertEquals(0, counted[0], "no token was fed: every step waited for the one before");
    }

    @Test
    void aFedTokenNeedsThePreviousStep() {
        ForwardBatch fed = new ForwardBatch(new int[] {Backend.fedId(0)}, new int[] {0}, new int[] {0},
                new int[] {0, 1}, new int[] {1}, new int[][] {{0}}, new int[] {0});
        assertThrows(IllegalArgumentException.class, () -> fed.withFedIds(null));
        assertThrows(IllegalArgumentException.class, () -> fed.withFedIds(PendingIds.done(new int[0])));
        assertArrayEquals(new int[] {42}, fed.withFedIds(PendingIds.done(new int[] {42})).tokenIds());
        assertThrows(IllegalArgumentException.class, () -> Backend.fedId(-1));
    }
}
