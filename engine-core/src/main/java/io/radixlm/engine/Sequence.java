package io.radixlm.engine;

import io.radixlm.kv.CacheReport;
import io.radixlm.kv.RadixCache;

/**
 * One request as it moves through the engine: its tokens (prompt, then generated), the pages holding
 * their KV, and where it stands. Invariant: pages cover positions [0, numComputed) — the KV that is in
 * the cache — and numComputed < tokens.size() while the sequence runs (the newest token is always
 * still to be computed). A sampled token whose step is still running is {@link #PENDING} in tokens
 * until its id comes back (at most the last two tokens are).
 */
final class Sequence {
    enum Status { WAITING, RUNNING, FINISHED }

    /** The id of a token sampled by a step whose ids have not come back yet (real ids are never negative). */
    static final int PENDING = -1;

    final Request request;
    final int order;                  // position in the generate() call, for output order
    final long submittedNanos;
    final IntList tokens;             // prompt + generated
    final int numPromptTokens;
    final IntList pages = new IntList(8);   // block table
    final OutputText text;

    Status status = Status.WAITING;
    int numComputed;                  // tokens whose K/V are in the pages
    int numPagesFromCache;            // leading pages owned by the radix tree (locked through lockedNode)
    RadixCache.Node lockedNode;       // null when nothing is locked
    boolean admittedBefore;           // a re-admission after preemption recomputes; it is never a cache hit
    int cachedTokens;
    CacheReport cacheReport;
    long firstTokenNanos;
    long lastTokenNanos;
    FinishReason finishReason;
    int pendingRow;                   // the logit row of the latest step enqueued that samples for this sequence

    Sequence(Request request, int order, long submittedNanos, OutputText text) {
        this.request = request;
        this.order = order;
        this.submittedNanos = submittedNanos;
        this.tokens = new IntList(request.promptIds());
        this.numPromptTokens = request.promptIds().length;
        this.text = text;
    }

    int numGenerated() { return tokens.size() - numPromptTokens; }

    /** Tokens still to be run through the model before the next token can be sampled. */
    int numUncomputed() { return tokens.size() - numComputed; }

    boolean isDecoding() { return status == Status.RUNNING && numUncomputed() == 1 && numGenerated() > 0; }

    RequestOutput toOutput() {
        int numOut = numGenerated();
        double ttftMs = (firstTokenNanos - submittedNanos) / 1e6;
        double tpotMs = numOut > 1 ? (lastTokenNanos - firstTokenNanos) / 1e6 / (numOut - 1) : 0;
        return new RequestOutput(request.id(), tokens.slice(numPromptTokens, tokens.size()), text.finalText(),
                finishReason, numPromptTokens, cachedTokens, ttftMs, tpotMs, cacheReport);
    }
}
