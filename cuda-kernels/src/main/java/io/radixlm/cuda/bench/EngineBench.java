package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.cuda.CudaBackend;
import io.radixlm.engine.EngineOptions;
import io.radixlm.engine.LlmEngine;
import io.radixlm.engine.Request;
import io.radixlm.engine.RequestOutput;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.engine.TokenListener;
import io.radixlm.model.ModelConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Items that go through the whole engine ({@link LlmEngine}: scheduler, radix cache, sampler) on a
 * random-weight CUDA backend: the prefix cache's TTFT (item 5) and nano-vllm's throughput workload (item 6).
 */
final class EngineBench {
    private EngineBench() { }

    /** An engine over a random-weight CUDA backend wrapped in a {@link TimedBackend} (see {@link #timed}). */
    static LlmEngine engine(ModelConfig config, int numPages, int maxBatchTokens, int maxRunningSeqs) {
        CudaBackend gpu = CudaBackend.withRandomWeights(config, 4321, 0.95);
        try {
            int pages = Math.min(numPages, gpu.maxKvPages(DecodeBench.PAGE_SIZE));
            return new LlmEngine(new TimedBackend(gpu), null, List.of(),
                    new EngineOptions(DecodeBench.PAGE_SIZE, pages, maxBatchTokens, maxRunningSeqs));
        } catch (RuntimeException e) {
            gpu.close(); // the next items need the GPU memory back
            throw e;
        }
    }

    /** The timing wrapper every engine of {@link #engine} runs on. */
    static TimedBackend timed(LlmEngine engine) { return (TimedBackend) engine.backend(); }

    private static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0, 0, 1, 0, 0, maxTokens, List.of(), true);
    }

    private static int[] randomIds(SplittableRandom random, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = random.nextInt(vocab);
        return ids;
    }

    private static RequestOutput one(LlmEngine engine, String id, int[] prompt, int maxTokens, String namespace) {
        return engine.generate(List.of(new Request(id, prompt, greedy(maxTokens), namespace)), TokenListener.NONE).get(0);
    }

    /**
     * TTFT of a cold promptLength-token prompt against the same prompt with its last 64 tokens replaced
     * (all but 64 tokens cached). A first prompt and its own hit in another namespace warm the engine up
     * (buffers, cuBLAS heuristics, kernels CUDA loads on first use) without caching anything the measured
     * ones could use. Medians: of {@link #COLD_RUNS} cold prompts (each new), then of {@link #HIT_RUNS} hits on the
     * last one's prefix, each with a tail of its own (one run of each swung the ratio by ±0.005 between calls).
     */
    static final int COLD_RUNS = 3;
    static final int HIT_RUNS = 5;

    private static double median(double[] values) {
        double[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    static Measurement prefixHit(LlmEngine engine, String shape, int promptLength) {
        int vocab = engine.config().vocabSize();
        SplittableRandom random = new SplittableRandom(5);
        int[] warm = randomIds(random, promptLength, vocab);
        one(engine, "warmup", warm, 1, "warmup");
        System.arraycopy(randomIds(random, 64, vocab), 0, warm, promptLength - 64, 64);
        one(engine, "warmup-hit", warm, 1, "warmup"); // a hit too: the 64-token step's kernels load lazily on first use
        int[] cold = null;
        double[] coldMs = new double[COLD_RUNS];
        int coldCached = 0;
        for (int i = 0; i < COLD_RUNS; i++) {
            cold = randomIds(random, promptLength, vocab);
            RequestOutput coldOut = one(engine, "cold-" + i, cold, 1, "");
            coldMs[i] = coldOut.ttftMs();
            coldCached = Math.max(coldCached, coldOut.cachedTokens());
        }
        TimedBackend backend = timed(engine);
        double[] hitMs = new double[HIT_RUNS];
        double[] hitBackendMs = new double[HIT_RUNS];
        int hitCached = Integer.MAX_VALUE;
        int hitSteps = 0;
        for (int i = 0; i < HIT_RUNS; i++) {
            int[] hit = cold.clone();
            System.arraycopy(randomIds(random, 64, vocab), 0, hit, promptLength - 64, 64);
            backend.reset();
            RequestOutput hitOut = one(engine, "hit-" + i, hit, 1, "");
            hitMs[i] = hitOut.ttftMs();
            hitBackendMs[i] = backend.millis();
            hitSteps = Math.max(hitSteps, backend.calls());
            hitCached = Math.min(hitCached, hitOut.cachedTokens());
        }
        double coldMedian = median(coldMs);
        double hitMedian = median(hitMs);
        double hitBackendMedian = median(hitBackendMs);
        double ratio = hitMedian / coldMedian;
        ObjectNode json = JsonNodeFactory.instance.objectNode()
                .put("shape", shape).put("prompt_tokens", promptLength).put("cold_ttft_ms", coldMedian)
                .put("hit_ttft_ms", hitMedian).put("hit_cached_tokens", hitCached)
                .put("cold_cached_tokens", coldCached).put("hit_ttft_ratio", ratio)
                .put("hit_backend_ms", hitBackendMedian).put("hit_backend_steps", hitSteps)
                .put("hit_engine_host_ms", hitMedian - hitBackendMedian)
                .put("cold_runs", COLD_RUNS).put("hit_runs", HIT_RUNS);
        for (double ms : coldMs) json.withArray("cold_ttft_ms_each").add(ms);
        for (double ms : hitMs) json.withArray("hit_ttft_ms_each").add(ms);
        return new Measurement("prefix_hit", shape + ", " + promptLength + "-token prompt, all but 64 cached",
                String.format("cold TTFT %.1f ms, hit TTFT %.1f ms (medians of %d and %d; %d cached; %.1f ms of it in %d"
                                + " backend step(s)): ratio %.3f", coldMedian, hitMedian, COLD_RUNS, HIT_RUNS, hitCached,
                        hitBackendMedian, hitSteps, ratio), json);
    }

    /**
     * An agent trace: turn i's prompt = turn i-1's prompt + its output + a new 200-token observation.
     * Run once with the cache, then the same prompts each in its own namespace (nothing shared).
     */
    static Measurement agentTrace(LlmEngine engine, String shape, int turns, int firstPrompt, int outputTokens) {
        int vocab = engine.config().vocabSize();
        SplittableRandom random = new SplittableRandom(6);
        int[] prompt = randomIds(random, firstPrompt, vocab);
        List<int[]> prompts = new ArrayList<>();
        double cachedTtft = 0;
        long cachedTokens = 0;
        long promptTokens = 0;
        for (int t = 0; t < turns; t++) {
            prompts.add(prompt);
            RequestOutput out = one(engine, "turn" + t, prompt, outputTokens, "agent");
            cachedTtft += out.ttftMs();
            cachedTokens += out.cachedTokens();
            promptTokens += prompt.length;
            int[] observation = randomIds(random, 200, vocab);
            int[] next = Arrays.copyOf(prompt, prompt.length + out.outputIds().length + observation.length);
            System.arraycopy(out.outputIds(), 0, next, prompt.length, out.outputIds().length);
            System.arraycopy(observation, 0, next, prompt.length + out.outputIds().length, observation.length);
            prompt = next;
        }
        double uncachedTtft = 0;
        for (int t = 0; t < turns; t++) {
            uncachedTtft += one(engine, "cold" + t, prompts.get(t), outputTokens, "agent-cold-" + t).ttftMs();
        }
        double hitRate = (double) cachedTokens / promptTokens;
        ObjectNode json = JsonNodeFactory.instance.objectNode()
                .put("shape", shape).put("turns", turns).put("first_prompt_tokens", firstPrompt)
                .put("output_tokens_per_turn", outputTokens).put("prompt_tokens", promptTokens)
                .put("cached_tokens", cachedTokens).put("hit_rate", hitRate)
                .put("total_ttft_ms_with_cache", cachedTtft).put("total_ttft_ms_without_cache", uncachedTtft);
        return new Measurement("agent_trace", shape + ", " + turns + " turns",
                String.format("total TTFT %.0f ms with the cache, %.0f ms without; hit rate %.1f%%", cachedTtft,
                        uncachedTtft, 100 * hitRate), json);
    }

    /** nano-vllm's workload, all requests submitted at once; output tokens ÷ wall time. */
    static Measurement throughput(LlmEngine engine, String shape, NanoVllmWorkload workload) {
        int vocab = engine.config().vocabSize();
        List<Request> warmup = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(8);
        for (int i = 0; i < 8; i++) warmup.add(new Request("w" + i, randomIds(random, 128, vocab), greedy(16), "warmup"));
        engine.generate(warmup, TokenListener.NONE);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < workload.items().size(); i++) {
            NanoVllmWorkload.Item item = workload.items().get(i);
            requests.add(new Request("r" + i, item.promptIds(), greedy(item.outputTokens()), ""));
        }
        long start = System.nanoTime();
        List<RequestOutput> outputs = engine.generate(requests, TokenListener.NONE);
        double seconds = (System.nanoTime() - start) / 1e9;
        long generated = 0;
        for (RequestOutput out : outputs) generated += out.outputIds().length;
        double tokensPerSecond = generated / seconds;
        ObjectNode json = JsonNodeFactory.instance.objectNode()
                .put("shape", shape).put("requests", workload.items().size())
                .put("prompt_tokens", workload.totalPromptTokens()).put("output_tokens", generated)
                .put("expected_output_tokens", workload.totalOutputTokens()).put("seconds", seconds)
                .put("output_tokens_per_s", tokensPerSecond)
                .put("total_tokens_per_s", (workload.totalPromptTokens() + generated) / seconds);
        var lengths = json.putArray("lengths"); // [prompt, output] per request: the PyTorch peer runs the same
        for (NanoVllmWorkload.Item item : workload.items()) lengths.addArray().add(item.promptIds().length).add(item.outputTokens());
        return new Measurement("nanovllm", shape + ", " + workload.items().size() + " requests",
                String.format("%,.0f output tok/s (%d tokens in %.1f s)", tokensPerSecond, generated, seconds), json);
    }
}
