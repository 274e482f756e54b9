package io.radixlm.kv;

import io.radixlm.kv.CacheReport.Outcome;

/**
 * Builds the {@link CacheReport}s that {@link RadixCache#match} returns: one factory per outcome, so that
 * the wording of every message lives in one place. Each message starts "X of N prompt tokens from cache".
 */
final class CacheReports {
    private CacheReports() {}

    static CacheReport fullHit(int cached, int numPrompt) {
        return plain(Outcome.FULL_HIT, cached, head(cached, numPrompt) + "; every cacheable whole page hit");
    }

    /** The cache holds everything it could for this prompt, but its path ends at {@code cached}. */
    static CacheReport pathEnds(int cached, int numPrompt) {
        return plain(Outcome.FULL_HIT, cached, head(cached, numPrompt)
                + "; the whole cached path hit (nothing is cached past position " + cached + ")");
    }

    static CacheReport partialPage(int cached, int numPrompt, int numTail, int pageSize) {
        return plain(Outcome.PARTIAL_PAGE, cached, head(cached, numPrompt) + "; the next " + numTail
                + " tokens are cached too but fill less than a page of " + pageSize + " (the last prompt"
                + " token is always recomputed)");
    }

    static CacheReport diverged(int cached, int numPrompt, int divergedAt, int promptToken, int cachedToken) {
        return new CacheReport(Outcome.DIVERGED, cached, divergedAt, promptToken, cachedToken,
                head(cached, numPrompt) + divergence(divergedAt, promptToken, cachedToken));
    }

    static CacheReport shorterThanPage(int numPrompt, int limit, int pageSize) {
        return plain(Outcome.SHORTER_THAN_PAGE, 0, head(0, numPrompt) + "; the " + limit
                + " cacheable tokens are fewer than one page of " + pageSize);
    }

    static CacheReport emptyCache(int numPrompt) {
        return plain(Outcome.EMPTY_CACHE, 0, head(0, numPrompt) + "; nothing is cached in this namespace yet");
    }

    /** divergedAt is -1 when the remaining cached path does not diverge from the prompt. */
    static CacheReport evicted(int cached, int numPrompt, int pageSize, int divergedAt, int promptToken,
                               int cachedToken) {
        String why = "; positions " + cached + "-" + (cached + pageSize - 1) + " were cached but evicted";
        if (divergedAt >= 0) why += ", and what is still cached" + divergence(divergedAt, promptToken, cachedToken);
        return plain(Outcome.EVICTED, cached, head(cached, numPrompt) + why);
    }

    static CacheReport otherNamespace(int cached, int numPrompt, int otherCached) {
        return plain(Outcome.OTHER_NAMESPACE, cached, head(cached, numPrompt) + "; another namespace caches "
                + otherCached + " of them, but pages are never shared across namespaces");
    }

    private static CacheReport plain(Outcome outcome, int cached, String message) {
        return new CacheReport(outcome, cached, -1, -1, -1, message);
    }

    private static String head(int cached, int numPrompt) {
        return cached + " of " + numPrompt + " prompt tokens from cache";
    }

    private static String divergence(int divergedAt, int promptToken, int cachedToken) {
        return "; diverged at position " + divergedAt + " (prompt token " + promptToken + ", cached "
                + cachedToken + ")";
    }
}
