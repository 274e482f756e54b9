package io.radixlm.kv;

import java.util.Objects;

/**
 * What {@link RadixCache#match} found.
 *
 * @param numTokens prompt tokens whose KV is cached: a multiple of the page size
 * @param pages     (numTokens / pageSize) page ids; pages[i] holds tokens [i*pageSize, (i+1)*pageSize)
 * @param lastNode  end of the matched path (a namespace root when nothing matched): the handle to lock
 *                  and later unlock
 * @param report    why the prompt did or did not reuse more of the cache
 */
public record MatchResult(int numTokens, int[] pages, RadixCache.Node lastNode, CacheReport report) {
    public MatchResult {
        Objects.requireNonNull(pages, "pages");
        Objects.requireNonNull(lastNode, "lastNode");
        Objects.requireNonNull(report, "report");
        if (numTokens < 0) throw new IllegalArgumentException("numTokens must be >= 0, got " + numTokens);
        if (pages.length == 0 ? numTokens != 0 : numTokens % pages.length != 0) {
            throw new IllegalArgumentException(numTokens + " tokens do not fill " + pages.length + " pages");
        }
    }
}
