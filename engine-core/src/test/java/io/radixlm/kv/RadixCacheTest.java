package io.radixlm.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.radixlm.kv.CacheReport.Outcome;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Worked examples with page size 16, each outcome of the report, and the lock/evict contract. */
class RadixCacheTest {
    private static final int PAGE = 16;
    private final PagePool pool = new PagePool(64);
    private final RadixCache cache = new RadixCache(pool, PAGE);

    /** Tokens start, start+1, ... (n of them). */
    private static int[] run(int start, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = start + i;
        return t;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /** Caches tokens' whole pages under fresh pages, as a finished request would; returns those pages. */
    private int[] cacheTokens(String ns, int[] tokens) {
        int[] pages = pool.allocate(tokens.length / PAGE);
        assertEquals(0, cache.insert(ns, tokens, pages).length);
        return pages;
    }

    @Test
    void emptyCacheReportsNothingCached() {
        MatchResult r = cache.match("", run(100, 40), 39);
        assertEquals(0, r.numTokens());
        assertEquals(0, r.pages().length);
        assertEquals(Outcome.EMPTY_CACHE, r.report().outcome());
        assertEquals("0 of 40 prompt tokens from cache; nothing is cached in this namespace yet", r.report().message());
    }

    @Test
    void promptShorterThanAPageCannotHit() {
        cacheTokens("", run(100, 32));
        MatchResult r = cache.match("", run(100, 16), 15);
        assertEquals(0, r.numTokens());
        assertEquals(Outcome.SHORTER_THAN_PAGE, r.report().outcome());
    }

    @Test
    void fullHitReturnsThePagesInOrder() {
        int[] pages = cacheTokens("", run(100, 64));
        MatchResult r = cache.match("", run(100, 65), 64);
        assertEquals(64, r.numTokens());
        assertArrayEquals(pages, r.pages());
        assertEquals(new CacheReport(Outcome.FULL_HIT, 64, -1, -1, -1,
                "64 of 65 prompt tokens from cache; every cacheable whole page hit"), r.report());
    }

    @Test
    void promptEndingInsideTheCachedPathIsAPartialPage() {
        int[] pages = cacheTokens("", run(100, 64));
        // The whole 64-token prompt is cached, but the last token is recomputed: 63 tokens, 3 whole pages.
        MatchResult r = cache.match("", run(100, 64), 63);
        assertEquals(48, r.numTokens());
        assertArrayEquals(Arrays.copyOf(pages, 3), r.pages());
        assertEquals(Outcome.PARTIAL_PAGE, r.report().outcome());
        assertTrue(r.report().message().startsWith("48 of 64 prompt tokens from cache; the next 15 tokens"),
                r.report().message());
    }

    @Test
    void divergenceInsideAPageIsReportedAtTheTokenLevel() {
        cacheTokens("", run(100, 64));
        int[] prompt = run(100, 70);
        prompt[40] = 7; // shares 40 tokens with the cached path
        MatchResult r = cache.match("", prompt, 69);
        assertEquals(32, r.numTokens());
        assertEquals(new CacheReport(Outcome.DIVERGED, 32, 40, 7, 140,
                "32 of 70 prompt tokens from cache; diverged at position 40 (prompt token 7, cached 140)"), r.report());
    }

    @Test
    void divergenceAtTheFirstTokenHitsNothing() {
        cacheTokens("", run(100, 32));
        MatchResult r = cache.match("", run(5, 40), 39);
        assertEquals(0, r.numTokens());
        assertEquals(Outcome.DIVERGED, r.report().outcome());
        assertEquals(0, r.report().divergedAt());
        assertEquals(5, r.report().promptToken());
        assertEquals(100, r.report().cachedToken());
    }

    @Test
    void divergenceFollowsTheBranchSharingTheMostTokens() {
        int[] base = run(100, 32);
        int[] a = base.clone();
        a[18] = 1;
        int[] b = base.clone();
        b[25] = 2;
        cacheTokens("", a);
        pool.free(cache.insert("", b, pool.allocate(2))); // b's first page duplicates a's
        assertEquals(3, cache.cachedPages());
        int[] prompt = base.clone();
        prompt[29] = 3;
        MatchResult r = cache.match("", prompt, 32);
        assertEquals(16, r.numTokens());
        assertEquals(25, r.report().divergedAt()); // b shares 25 tokens, a only 18
        assertEquals(2, r.report().cachedToken());
    }

    @Test
    void promptLongerThanTheCachedPathIsAFullHitOfThatPath() {
        cacheTokens("", run(100, 32));
        MatchResult r = cache.match("", run(100, 70), 69);
        assertEquals(32, r.numTokens());
        assertEquals(Outcome.FULL_HIT, r.report().outcome());
        assertTrue(r.report().message().contains("nothing is cached past position 32"), r.report().message());
    }

    @Test
    void namespacesNeverSharePagesAndTheReportSaysWhy() {
        int[] pagesA = cacheTokens("a", run(100, 48));
        MatchResult inB = cache.match("b", run(100, 50), 49);
        assertEquals(0, inB.numTokens());
        assertEquals(Outcome.OTHER_NAMESPACE, inB.report().outcome());
        assertEquals("0 of 50 prompt tokens from cache; another namespace caches 48 of them, but pages are never"
                + " shared across namespaces", inB.report().message());

        int[] pagesB = cacheTokens("b", run(100, 16)); // b's own copy of the first page
        assertTrue(Arrays.stream(pagesB).noneMatch(p -> Arrays.stream(pagesA).anyMatch(q -> q == p)));
        MatchResult again = cache.match("b", run(100, 50), 49);
        assertArrayEquals(pagesB, again.pages());
        assertEquals(Outcome.OTHER_NAMESPACE, again.report().outcome());
        assertEquals(16, again.report().cachedTokens());
        assertArrayEquals(pagesA, cache.match("a", run(100, 50), 49).pages());
    }

    @Test
    void evictedPrefixIsReportedAsEvicted() {
        cacheTokens("", run(100, 48));
        assertEquals(3, cache.evict(100));
        MatchResult r = cache.match("", run(100, 50), 49);
        assertEquals(0, r.numTokens());
        assertEquals(Outcome.EVICTED, r.report().outcome());
        assertEquals("0 of 50 prompt tokens from cache; positions 0-15 were cached but evicted", r.report().message());
    }

    @Test
    void evictedTailAfterAHitIsReportedAsEvicted() {
        cacheTokens("", run(100, 64));
        assertEquals(2, cache.evict(2)); // the last two pages of the only leaf
        MatchResult r = cache.match("", run(100, 70), 69);
        assertEquals(32, r.numTokens());
        assertEquals(Outcome.EVICTED, r.report().outcome());
        assertTrue(r.report().message().startsWith("32 of 70 prompt tokens from cache; positions 32-47 were cached"),
                r.report().message());
        // A prompt that never had its second page cached is not "evicted".
        int[] other = run(100, 70);
        other[20] = 1;
        assertEquals(Outcome.DIVERGED, cache.match("", other, 69).report().outcome());
    }

    @Test
    void insertReturnsDuplicatesButNotTheTreesOwnPages() {
        int[] tokens = run(100, 48);
        int[] first = cacheTokens("", tokens);
        int[] second = pool.allocate(3);
        assertArrayEquals(second, cache.insert("", tokens, second)); // all duplicates: the caller frees them
        pool.free(second);

        // A request that matched 2 pages and computed 2 more: the tree keeps its own 2, takes the new 2.
        int[] longer = run(100, 64);
        longer[40] = 9;
        MatchResult r = cache.match("", longer, 63);
        assertEquals(32, r.numTokens());
        int[] fresh = pool.allocate(2);
        int[] returned = cache.insert("", longer, concat(r.pages(), fresh));
        assertEquals(0, returned.length);
        assertEquals(5, cache.cachedPages());
        assertArrayEquals(concat(Arrays.copyOf(first, 2), fresh), cache.match("", longer, 64).pages());
        assertEquals(pool.numPages(), pool.numFree() + cache.cachedPages());
    }

    @Test
    void lockedPathSurvivesSplitsAndEviction() {
        int[] tokens = run(100, 64);
        cacheTokens("", tokens);
        RadixCache.Node node = cache.match("", tokens, 64).lastNode();
        cache.lock(node);
        assertEquals(0, cache.evictablePages());
        // A shorter match and a diverging insert both split the locked node.
        RadixCache.Node shorter = cache.match("", tokens, 32).lastNode();
        assertNotSame(node, shorter);
        int[] branch = run(100, 48);
        branch[40] = 1;
        int[] branchPages = pool.allocate(3);
        int[] dup = cache.insert("", branch, branchPages);
        assertEquals(2, dup.length);
        pool.free(dup);
        assertEquals(1, cache.evictablePages()); // only the new branch page
        assertEquals(1, cache.evict(100));
        assertEquals(64, cache.match("", tokens, 64).numTokens()); // the locked path is all still there
        cache.lock(shorter);
        cache.unlock(node);
        assertEquals(2, cache.evictablePages()); // the last two pages; the first two are still pinned by shorter
        assertEquals(2, cache.evict(100));
        cache.unlock(shorter);
        assertEquals(2, cache.evict(100));
        assertEquals(pool.numPages(), pool.numFree());
        assertThrows(IllegalStateException.class, () -> cache.unlock(shorter));
    }

    @Test
    void leastRecentlyUsedLeafGoesFirst() {
        int[] a = cacheTokens("", run(100, 32));
        int[] b = cacheTokens("", run(200, 32));
        int[] c = cacheTokens("", run(300, 32));
        cache.match("", run(100, 33), 32); // a is now more recent than b and c
        assertEquals(2, cache.evict(2));
        assertTrue(pool.isFree(b[0]) && pool.isFree(b[1]));
        assertArrayEquals(a, cache.match("", run(100, 33), 32).pages());
        assertArrayEquals(c, cache.match("", run(300, 33), 32).pages());
    }

    @Test
    void evictionTakesOnlyWhatIsAskedFromTheEndOfALeaf() {
        int[] pages = cacheTokens("", run(100, 64));
        assertEquals(1, cache.evict(1));
        assertTrue(pool.isFree(pages[3]));
        assertEquals(3, cache.cachedPages());
        assertArrayEquals(Arrays.copyOf(pages, 3), cache.match("", run(100, 64), 64).pages());
    }

    @Test
    void matchNeitherLocksNorChangesWhatIsCached() {
        cacheTokens("", run(100, 64));
        cache.match("", run(100, 40), 40);
        assertEquals(4, cache.cachedPages());
        assertEquals(4, cache.evictablePages());
    }

    @Test
    void misuseIsRejected() {
        int[] tokens = run(100, 32);
        int[] freePage = {pool.allocate(1)[0]};
        pool.free(freePage);
        assertThrows(IllegalStateException.class, () -> cache.insert("", tokens, freePage));
        int[] held = pool.allocate(2);
        assertThrows(IllegalArgumentException.class, () -> cache.insert("", tokens, new int[] {held[0], held[0]}));
        assertThrows(IllegalArgumentException.class, () -> cache.insert("", run(100, 20), held));
        assertThrows(IllegalArgumentException.class, () -> cache.match("", tokens, 33));
        cache.insert("", tokens, held);
        RadixCache.Node node = cache.match("", tokens, 32).lastNode();
        assertThrows(IllegalStateException.class, () -> cache.unlock(node));
        cache.evict(2);
        assertThrows(IllegalStateException.class, () -> cache.lock(node));
    }
}
