package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.backend.PendingIds;
import io.radixlm.kv.PagePool;
import io.radixlm.kv.RadixCache;
import io.radixlm.model.ModelConfig;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The engine: a backend, the paged KV cache with its radix prefix tree, the scheduler and the sampler.
 * Requests given together run together (continuous batching); the prefix cache persists across calls,
 * so a later request that starts with an earlier one's tokens reuses their KV.
 */
public final class LlmEngine implements AutoCloseable {
    /**
     * Decode steps are enqueued ahead on a backend that queues them ({@link Backend#runsStepsAhead}): while a step
     * runs, the next one of the same sequences is already queued behind it with its tokens fed on the device, so
     * the GPU does not wait for the host between them. -Dradixlm.chainSteps=false waits for each step's tokens
     * before scheduling the next.
     */
    static final boolean CHAIN_STEPS = !"false".equals(System.getProperty("radixlm.chainSteps"));
    private final Backend backend;
    private final Tokenizer tokenizer;
    private final Set<Integer> eosTokenIds;
    private final EngineOptions options;
    private final PagePool pool;
    private final RadixCache cache;
    private final ModelRunner runner;
    private boolean chainSteps = CHAIN_STEPS;

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
        InFlight inFlight = null;
        InFlight next = null;
        try {
            while (inFlight != null || scheduler.hasWork()) {
                next = inFlight != null && chainSteps && backend.runsStepsAhead() ? enqueueAhead(scheduler, inFlight) : null;
                if (inFlight != null) resolve(scheduler, inFlight, listener);
                if (next == null && scheduler.hasWork()) next = enqueueScheduled(scheduler, listener);
                inFlight = next;
                next = null;
            }
        } catch (RuntimeException | Error e) {
            abort(scheduler, e, inFlight, next);
            throw e;
        }
        return seqs.stream().map(Sequence::toOutput).collect(Collectors.toList());
    }

    /**
     * After a failure inside generate (a step's non-finite logits, a backend error, a listener that threw): waits
     * for the steps still enqueued, so that the backend is done with their pages, then ends every unfinished sequence
     * without caching its KV and returns its pages. Later failures of those steps are added to e as suppressed.
     */
    private static void abort(Scheduler scheduler, Throwable e, InFlight... steps) {
        for (InFlight step : steps) {
            if (step == null) continue;
            try {
                step.ids().await();
            } catch (RuntimeException | Error later) {
                if (later != e) e.addSuppressed(later);
            }
        }
        scheduler.abortAll();
    }

    /**
     * A step enqueued whose sampled ids are not back: row r's token belongs to rowSeqs[r] at index
     * rowTokens[r] of its tokens, which holds {@link Sequence#PENDING} until then.
     */
    private record InFlight(Sequence[] rowSeqs, int[] rowTokens, PendingIds ids) { }

    /** Schedules from the scheduler's state with every token known; null when nothing could run this time. */
    private InFlight enqueueScheduled(Scheduler scheduler, TokenListener listener) {
        ScheduledBatch batch = scheduler.schedule();
        for (Sequence starved : scheduler.starved()) finish(scheduler, starved, FinishReason.LENGTH, listener);
        if (batch.isEmpty()) {
            if (scheduler.hasWork() && scheduler.starved().isEmpty()) {
                throw new IllegalStateException("scheduler made no progress");
            }
            return null;
        }
        return enqueue(batch, null);
    }

    /**
     * The next decode step of the sequences of inFlight, enqueued before its ids are back: their new tokens are
     * fed on the device. Null when that step is not certain to be the next one (see Scheduler.scheduleDecodeAhead):
     * a sequence that will reach its length with inFlight's token is left out of it.
     */
    private InFlight enqueueAhead(Scheduler scheduler, InFlight inFlight) {
        Set<Sequence> sampled = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int r = 0; r < inFlight.rowSeqs().length; r++) {
            Sequence seq = inFlight.rowSeqs()[r];
            if (seq.tokens.size() != inFlight.rowTokens()[r] + 1) return null; // not its latest token
            sampled.add(seq);
        }
        ScheduledBatch batch = scheduler.scheduleDecodeAhead(sampled,
                seq -> lengthReached(seq, seq.tokens.size()) != null);
        return batch == null ? null : enqueue(batch, inFlight.ids());
    }

    /** Enqueues the batch (tokens PENDING fed from previous) and moves its sequences past it, with a PENDING token each that samples. */
    private InFlight enqueue(ScheduledBatch batch, PendingIds previous) {
        int numRows = batch.numSampling();
        boolean[] samples = new boolean[batch.sequences().size()];
        for (int i = 0; i < samples.length; i++) samples[i] = batch.samples(i);
        PendingIds ids = runner.enqueue(batch, previous);
        Sequence[] rowSeqs = new Sequence[numRows];
        int[] rowTokens = new int[numRows];
        int row = 0;
        for (int i = 0; i < samples.length; i++) {
            Sequence seq = batch.sequences().get(i);
            seq.numComputed += batch.numNewTokens()[i];
            if (!samples[i]) continue;
            rowSeqs[row] = seq;
            rowTokens[row] = seq.tokens.size();
            seq.pendingRow = row;
            seq.tokens.add(Sequence.PENDING);
            row++;
        }
        return new InFlight(rowSeqs, rowTokens, ids);
    }

    /** Waits for the step's ids and hands them to their sequences; rows of sequences finished since are dropped. */
    private void resolve(Scheduler scheduler, InFlight step, TokenListener listener) {
        int[] ids = step.ids().await();
        for (int r = 0; r < ids.length; r++) {
            Sequence seq = step.rowSeqs()[r];
            if (seq.status == Sequence.Status.FINISHED) continue;
            appendToken(scheduler, seq, step.rowTokens()[r], ids[r], listener);
        }
    }

    /** The sampled token at index of seq's tokens (its PENDING slot): streams it and finishes seq when it ends there. */
    private void appendToken(Scheduler scheduler, Sequence seq, int index, int token, TokenListener listener) {
        long now = System.nanoTime();
        if (index == seq.numPromptTokens) seq.firstTokenNanos = now;
        seq.lastTokenNanos = now;
        seq.tokens.set(index, token);
        String delta = seq.text.push(token);
        FinishReason reason = finishReason(seq, token, index + 1);
        if (reason != null) {
            seq.finishReason = reason;
            delta += seq.text.flush();
            seq.tokens.truncate(index + 1); // a step enqueued ahead sampled past the end: not part of the output
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

    /** Why seq ends with token, its length-th token (prompt included); null when it goes on. */
    private FinishReason finishReason(Sequence seq, int token, int length) {
        SamplingParams params = seq.request.params();
        if (!params.ignoreEos() && eosTokenIds.contains(token)) return FinishReason.EOS;
        if (seq.text.stopStringSeen()) return FinishReason.STOP;
        return lengthReached(seq, length);
    }

    /** LENGTH when seq ends at length tokens whatever they are (max tokens or the model's context); else null. */
    private FinishReason lengthReached(Sequence seq, int length) {
        if (length - seq.numPromptTokens >= seq.request.params().maxTokens()) return FinishReason.LENGTH;
        if (length >= backend.config().maxPositionEmbeddings()) return FinishReason.LENGTH;
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

    /** Whether decode steps are enqueued ahead (see {@link #CHAIN_STEPS}); the outputs are the same either way. */
    public void setChainSteps(boolean enabled) { this.chainSteps = enabled; }

    public ModelConfig config() { return backend.config(); }

    public Backend backend() { return backend; }

    public Tokenizer tokenizer() { return tokenizer; }

    /** Number of KV pages and their size, for reports. */
    public int numKvPages() { return pool.numPages(); }

    /** KV pages neither free nor evictable from the prefix cache: held by sequences or locked; 0 between generate calls. */
    int numPagesHeld() { return pool.numPages() - pool.numFree() - cache.evictablePages(); }

    public int pageSize() { return options.pageSize(); }

    @Override
    public void close() { backend.close(); }
}
