package io.radixlm.engine;

import io.radixlm.kv.MatchResult;
import io.radixlm.kv.PagePool;
import io.radixlm.kv.RadixCache;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Continuous batching over a paged KV cache with a radix prefix cache. Each step first advances the
 * running sequences (oldest first: decodes and unfinished prefill chunks), then admits waiting ones
 * while the token budget and the pages last. When pages run out it evicts unlocked cached prefixes,
 * then preempts the newest running sequence (its pages are freed; it is recomputed later).
 */
final class Scheduler {
    private final RadixCache cache;
    private final PagePool pool;
    private final int pageSize;
    private final int maxBatchTokens;
    private final int maxRunningSeqs;
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();   // in admission order
    private final List<Sequence> starved = new ArrayList<>();   // alone and still out of pages

    Scheduler(RadixCache cache, PagePool pool, int pageSize, int maxBatchTokens, int maxRunningSeqs) {
        this.cache = cache;
        this.pool = pool;
        this.pageSize = pageSize;
        this.maxBatchTokens = maxBatchTokens;
        this.maxRunningSeqs = maxRunningSeqs;
    }

    void add(Sequence seq) { waiting.addLast(seq); }

    boolean hasWork() { return !waiting.isEmpty() || !running.isEmpty(); }

    /**
     * Sequences that could not get a page even with everything else evicted and preempted; the engine
     * finishes them (context full for this pool). Cleared by each schedule().
     */
    List<Sequence> starved() { return starved; }

    ScheduledBatch schedule() {
        starved.clear();
        List<Sequence> chosen = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        int budget = maxBatchTokens;
        for (Sequence seq : List.copyOf(running)) {
            if (budget == 0) break;
            if (seq.status != Sequence.Status.RUNNING) continue;   // preempted earlier in this loop
            int n = Math.min(seq.numUncomputed(), budget);
            if (!reservePages(seq, seq.numComputed + n)) continue;
            chosen.add(seq);
            counts.add(n);
            budget -= n;
        }
        while (budget > 0 && !waiting.isEmpty() && running.size() < maxRunningSeqs) {
            Sequence seq = waiting.peekFirst();
            int n = admit(seq, budget, chosen.isEmpty() && running.isEmpty());
            if (n == 0) break;
            waiting.pollFirst();
            if (n < 0) {
                starved.add(seq);
                continue;
            }
            chosen.add(seq);
            counts.add(n);
            budget -= n;
        }
        return new ScheduledBatch(chosen, counts.stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * The step after one whose tokens are not back yet: one decode token for each running sequence except
     * those that ends says finish with that step. Null unless this is the step {@link #schedule} would make
     * once the tokens are in, short of the finished ones: nothing waits, every running sequence samples in
     * the step before (sampled), the budget holds them, and their pages come without preempting anyone.
     */
    ScheduledBatch scheduleDecodeAhead(Set<Sequence> sampled, Predicate<Sequence> ends) {
        starved.clear();
        if (!waiting.isEmpty()) return null;
        List<Sequence> chosen = new ArrayList<>();
        for (Sequence seq : running) {
            if (!sampled.contains(seq)) return null;
            if (!ends.test(seq)) chosen.add(seq);
        }
        if (chosen.isEmpty() || chosen.size() > maxBatchTokens) return null;
        for (Sequence seq : chosen) {
            if (seq.numUncomputed() != 1 || !tryAllocate(pagesNeeded(seq, seq.numComputed + 1))) return null;
            extendPages(seq, seq.numComputed + 1);
        }
        int[] ones = new int[chosen.size()];
        Arrays.fill(ones, 1);
        return new ScheduledBatch(chosen, ones);
    }

    /**
     * Matches the sequence's prefix in the cache, locks it and reserves pages for its first chunk.
     * Returns the chunk length; 0 when it must keep waiting (pages are short); -1 when it is alone
     * and still does not fit (only a sequence grown past the pool after preemption can be).
     */
    private int admit(Sequence seq, int budget, boolean alone) {
        String namespace = seq.request.namespace();
        MatchResult match = cache.match(namespace, seq.tokens.toArray(), seq.tokens.size() - 1);
        cache.lock(match.lastNode());
        seq.lockedNode = match.lastNode();
        seq.pages.addAll(match.pages());
        seq.numPagesFromCache = match.pages().length;
        seq.numComputed = match.numTokens();
        int n = Math.min(seq.numUncomputed(), budget);
        if (!tryAllocate(pagesNeeded(seq, seq.numComputed + n))) {
            releasePages(seq);
            return alone ? -1 : 0;
        }
        extendPages(seq, seq.numComputed + n);
        if (!seq.admittedBefore) {
            seq.cachedTokens = match.numTokens();
            seq.cacheReport = match.report();
            seq.admittedBefore = true;
        }
        seq.status = Sequence.Status.RUNNING;
        running.add(seq);
        return n;
    }

    /** Ensures seq has pages for positions [0, numTokens); evicts, then preempts newer sequences. */
    private boolean reservePages(Sequence seq, int numTokens) {
        int needed = pagesNeeded(seq, numTokens);
        while (!tryAllocate(needed)) {
            Sequence victim = running.getLast();
            preempt(victim);
            if (victim == seq) return false;
        }
        extendPages(seq, numTokens);
        return true;
    }

    private boolean tryAllocate(int numPages) {
        if (numPages <= 0 || pool.canAllocate(numPages)) return true;
        cache.evict(numPages - pool.numFree());
        return pool.canAllocate(numPages);
    }

    private int pagesNeeded(Sequence seq, int numTokens) {
        return ceilDiv(numTokens, pageSize) - seq.pages.size();
    }

    private void extendPages(Sequence seq, int numTokens) {
        int needed = pagesNeeded(seq, numTokens);
        if (needed > 0) seq.pages.addAll(pool.allocate(needed));
    }

    /** Frees the sequence's pages and sends it back to the front of the queue to be recomputed. */
    private void preempt(Sequence seq) {
        running.remove(seq);
        releasePages(seq);
        seq.status = Sequence.Status.WAITING;
        if (running.isEmpty() && waiting.isEmpty()) {
            starved.add(seq);            // nobody left to make room for it
        } else {
            waiting.addFirst(seq);
        }
    }

    /**
     * A finished sequence: its whole pages (prompt and generated tokens whose KV was computed) go into
     * the radix tree so later requests with the same prefix hit; the rest is freed; the prefix unlocked.
     */
    void finish(Sequence seq) {
        running.remove(seq);
        waiting.remove(seq);
        seq.status = Sequence.Status.FINISHED;
        int numFullPages = Math.min(seq.numComputed / pageSize, seq.pages.size());
        if (numFullPages > 0) {
            int[] notTaken = cache.insert(seq.request.namespace(), seq.tokens.slice(0, numFullPages * pageSize),
                    seq.pages.slice(0, numFullPages));
            pool.free(notTaken);
        }
        pool.free(seq.pages.slice(Math.max(numFullPages, seq.numPagesFromCache), seq.pages.size()));
        seq.pages.truncate(0);
        seq.numPagesFromCache = 0;
        unlock(seq);
    }

    /**
     * Ends every sequence not finished yet without caching its KV (after a failed step what it holds may be wrong):
     * its pages past the cached prefix go back to the pool and its prefix is unlocked.
     */
    void abortAll() {
        List<Sequence> unfinished = new ArrayList<>(running);
        unfinished.addAll(waiting);
        unfinished.addAll(starved);
        running.clear();
        waiting.clear();
        starved.clear();
        for (Sequence seq : unfinished) {
            if (seq.status == Sequence.Status.FINISHED) continue;
            releasePages(seq);
            seq.status = Sequence.Status.FINISHED;
        }
    }

    private void releasePages(Sequence seq) {
        pool.free(seq.pages.slice(seq.numPagesFromCache, seq.pages.size()));
        seq.pages.truncate(0);
        seq.numPagesFromCache = 0;
        seq.numComputed = 0;
        unlock(seq);
    }

    private void unlock(Sequence seq) {
        if (seq.lockedNode != null) {
            cache.unlock(seq.lockedNode);
            seq.lockedNode = null;
        }
    }

    static int ceilDiv(int a, int b) { return (a + b - 1) / b; }
}
