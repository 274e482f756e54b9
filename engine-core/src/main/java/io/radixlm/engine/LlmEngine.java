package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.kv.PagePool;
import io.radixlm.kv.RadixCache;
import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The engine: a backend, the paged KV cache with its radix prefix tree, the scheduler and the sampler.
 * Requests given together run together (continuous batching); the prefix cache persists across calls,
 * so a later request that starts with an earlier one's tokens reuses their KV.
 */
public final class LlmEngine implements AutoCloseable {
    private final Backend backend;
    private final Tokenizer tokenizer;
    private final Set<Integer> eosTokenIds;
    private final EngineOptions options;
    private final PagePool pool;
    private final RadixCache cache;
    private final ModelRunner runner;

    /** tokenizer may be null (prompts as ids; outputs then carry empty text). Takes ownership of backend. */
    public LlmEngine(Backend backend, Tokenizer tokenizer, List<Integer> eosTokenIds, EngineOptions options) {
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.eosTokenIds = Set.copyOf(eosTokenIds);
        this.options = options;
        int numPages = options.numPages() > 0 ? options.numPages() : defaultNumPages(backend, options);
        backend.allocateKvCache(numPages, options.pageSize());
        this.pool = new PagePool(numPages);
        this.cache = new RadixCache(pool, options.pageSize());
        this.runner = new ModelRunner(backend, options.pageSize());
    }

    private static int defaultNumPages(Backend backend, EngineOptions options) {
        long fullContexts = (long) options.maxRunningSeqs()
                * Scheduler.ceilDiv(backend.config().maxPositionEmbeddings(), options.pageSize());
        int budget = backend.maxKvPages(options.pageSize());
        if (budget < 1) throw new IllegalStateException("no memory left for the KV cache");
        return (int) Math.min(budget, fullContexts);
    }

    /** Runs the requests to completion, streaming tokens to listener; outputs in request order. */
    public List<RequestOutput> generate(List<Request> requests, TokenListener listener) {
        long now = System.nanoTime();
        Scheduler scheduler = new Scheduler(cache, pool, options.pageSize(), options.maxBatchTokens(),
                options.maxRunningSeqs());
        List<Sequence> seqs = new ArrayList<>();
        for (Request request : requests) {
            validate(request);
            OutputText text = new OutputText(tokenizer, request.promptIds(), request.params().stopStrings());
            Sequence seq = new Sequence(request, seqs.size(), now, text);
            seqs.add(seq);
            scheduler.add(seq);
        }
        while (scheduler.hasWork()) {
            step(scheduler, listener);
        }
        return seqs.stream().map(Sequence::toOutput).collect(Collectors.toList());
    }

    private void step(Scheduler scheduler, TokenListener listener) {
        ScheduledBatch batch = scheduler.schedule();
        for (Sequence starved : scheduler.starved()) finish(scheduler, starved, FinishReason.LENGTH, listener);
        if (batch.isEmpty()) {
            if (scheduler.hasWork() && scheduler.starved().isEmpty()) {
                throw new IllegalStateException("scheduler made no progress");
            }
            return;
        }
        int[] sampled = runner.runAndSample(batch);
        int row = 0;
        for (int i = 0; i < batch.sequences().size(); i++) {
            Sequence seq = batch.sequences().get(i);
            boolean samples = batch.samples(i);
            seq.numComputed += batch.numNewTokens()[i];
            if (samples) appendToken(scheduler, seq, sampled[row++], listener);
        }
    }

    private void appendToken(Scheduler scheduler, Sequence seq, int token, TokenListener listener) {
        long now = System.nanoTime();
        if (seq.numGenerated() == 0) seq.firstTokenNanos = now;
        seq.lastTokenNanos = now;
        seq.tokens.add(token);
        String delta = seq.text.push(token);
        FinishReason reason = finishReason(seq, token);
        if (reason != null) {
            seq.finishReason = reason;
            delta += seq.text.flush();
        }
        listener.onToken(seq.request.id(), token, delta);
        if (reason != null) scheduler.finish(seq);
    }

    private void finish(Scheduler scheduler, Sequence seq, FinishReason reason, TokenListener listener) {
        seq.finishReason = reason;
        String rest = seq.text.flush();
        if (!rest.isEmpty()) listener.onToken(seq.request.id(), seq.tokens.last(), rest);
        scheduler.finish(seq);
    }

    private FinishReason finishReason(Sequence seq, int token) {
        SamplingParams params = seq.request.params();
        if (!params.ignoreEos() && eosTokenIds.contains(token)) return FinishReason.EOS;
        if (seq.text.stopStringSeen()) return FinishReason.STOP;
        if (seq.numGenerated() >= params.maxTokens()) return FinishReason.LENGTH;
        if (seq.tokens.size() >= backend.config().maxPositionEmbeddings()) return FinishReason.LENGTH;
        return null;
    }

    private void validate(Request request) {
        int[] ids = request.promptIds();
        ModelConfig config = backend.config();
        if (ids.length > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("prompt of " + ids.length + " tokens is longer than the model's context of "
                    + config.maxPositionEmbeddings() + " tokens");
        }
        if (Scheduler.ceilDiv(ids.length + 1, options.pageSize()) > pool.numPages()) {
            throw new IllegalArgumentException("prompt of " + ids.length + " tokens needs more KV pages than the pool's "
                    + pool.numPages() + " pages of " + options.pageSize() + " tokens");
        }
        checkVocabulary(ids);
    }

    private void checkVocabulary(int[] ids) {
        int vocab = backend.config().vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    /**
     * Logits of every prompt position, (promptIds.length, vocabSize) row-major. Computes the whole prompt
     * (no prefix reuse) in chunks on temporary pages, which are freed afterwards.
     */
    public float[] promptLogits(int[] promptIds) {
        validate(new Request("logits", promptIds, SamplingParams.greedy(1), ""));
        int pageSize = options.pageSize();
        int numPages = Scheduler.ceilDiv(promptIds.length, pageSize);
        if (!pool.canAllocate(numPages)) cache.evict(numPages - pool.numFree());
        int[] pages = pool.allocate(numPages);
        try {
            int vocab = backend.config().vocabSize();
            float[] logits = new float[promptIds.length * vocab];
            for (int start = 0; start < promptIds.length; start += options.maxBatchTokens()) {
                int end = Math.min(promptIds.length, start + options.maxBatchTokens());
                float[] chunk = backend.forward(chunkBatch(promptIds, start, end, pages));
                System.arraycopy(chunk, 0, logits, start * vocab, chunk.length);
            }
            return logits;
        } finally {
            pool.free(pages);
        }
    }

    private ForwardBatch chunkBatch(int[] ids, int start, int end, int[] pages) {
        return new ForwardBatchBuilder(options.pageSize()).addChunk(ids, start, end, pages).buildAllRows();
    }

    public ModelConfig config() { return backend.config(); }

    public Backend backend() { return backend; }

    public Tokenizer tokenizer() { return tokenizer; }

    /** Number of KV pages and their size, for reports. */
    public int numKvPages() { return pool.numPages(); }

    public int pageSize() { return options.pageSize(); }

    @Override
    public void close() { backend.close(); }
}
