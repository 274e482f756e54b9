package io.radixlm.kv;

/**
 * Why a prompt did or did not reuse cached KV — what we tell the user beside cached_tokens.
 *
 * @param outcome        the kind of hit or miss
 * @param cachedTokens   prompt tokens served from the cache (a multiple of the page size)
 * @param divergedAt     for DIVERGED: first prompt position whose token differs from the longest cached
 *                       path; -1 otherwise
 * @param promptToken    for DIVERGED: the prompt's token at divergedAt; -1 otherwise
 * @param cachedToken    for DIVERGED: the cached path's token at divergedAt; -1 otherwise
 * @param message        one human sentence saying the above
 */
public record CacheReport(Outcome outcome, int cachedTokens, int divergedAt, int promptToken, int cachedToken,
                          String message) {

    public enum Outcome {
        /** The prompt's whole page-aligned prefix that the cache could hold was found. */
        FULL_HIT,
        /** The prompt left the longest cached path at divergedAt. */
        DIVERGED,
        /** The prompt ends inside the cached path (or matched past its last whole page): the tail is not a whole page. */
        PARTIAL_PAGE,
        /** The prompt is shorter than one page: nothing can be shared. */
        SHORTER_THAN_PAGE,
        /** Nothing is cached in this namespace yet. */
        EMPTY_CACHE,
        /** A matching prefix was cached once but its pages were evicted. */
        EVICTED,
        /** A matching prefix is cached, but under another namespace (cache salt). */
        OTHER_NAMESPACE
    }
}
