package io.radixlm.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random workloads driven the way the scheduler drives the cache (match, lock, allocate, evict when short,
 * insert on finish, free, unlock; or preempt), checked after every step against a deliberately naive model:
 * per namespace, a map from every cached page-aligned token prefix to its page and last-use time.
 *
 * <p>Each run is fully determined by its seed (page size, pool size and the whole operation sequence come from
 * {@code new Random(seed)}); a failure names the seed, and {@link #replay} reruns just that workload.
 */
class RadixCacheModelPropertiesTest {
    private static final String[] NAMESPACES = {"", "tenant-b"};

    private static final int NUM_RUNS = 300;

    /** Fixed, well-spread seeds (consecutive seeds give {@link Random} correlated first draws). */
    static LongStream seeds() {
        return new SplittableRandom(0x5EED_CAC4EL).longs(NUM_RUNS);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void cacheAgreesWithNaiveModel(long seed) {
        replay(seed);
    }

    /** Runs the workload of one seed; on failure, rethrows with the seed and the drawn sizes in the message. */
    static void replay(long seed) {
        Random random = new Random(seed);
        int pageSize = 1 + random.nextInt(4); // 1..4 tokens a page
        int numPages = 3 + random.nextInt(38); // pools of 3..40 pages
        try {
            new Workload(random, pageSize, numPages).run(120);
        } catch (AssertionError | RuntimeException e) {
            throw new AssertionError("seed " + seed + "L (pageSize " + pageSize + ", numPages " + numPages
                    + "; replay with RadixCacheModelPropertiesTest.replay(" + seed + "L)): " + e.getMessage(), e);
        }
    }

    /** One in-flight request: what it matched (and locked) and the pages it allocated itself. */
    private record Seq(String namespace, int[] tokens, RadixCache.Node lastNode, int[] matched, int[] own) {}

    private static final class Workload {
        private final Random random;
        private final int pageSize;
        private final PagePool pool;
        private final RadixCache cache;
        private final int[][] bases;
        private final List<Seq> running = new ArrayList<>();
        // namespace -> (prefix of whole pages -> {page, lastUse})
        private final Map<String, Map<List<Integer>, long[]>> model = new HashMap<>();
        private long clock;
        private Seq pending; // matched and locked, not yet running: its lock counts while it evicts

        Workload(Random random, int pageSize, int numPages) {
            this.random = random;
            this.pageSize = pageSize;
            this.pool = new PagePool(numPages);
            this.cache = new RadixCache(pool, pageSize);
            bases = new int[3][];
            for (int i = 0; i < bases.length; i++) bases[i] = randomTokens(5 + random.nextInt(30));
            for (String ns : NAMESPACES) model.put(ns, new HashMap<>());
        }

        void run(int numSteps) {
            for (int step = 0; step < numSteps; step++) {
                int op = random.nextInt(10);
                if (op < 5 || running.isEmpty()) start();
                else if (op < 8) finish(running.remove(random.nextInt(running.size())));
                else if (op < 9) preempt(running.remove(random.nextInt(running.size())));
                else evict(1 + random.nextInt(4));
                checkInvariants();
            }
            while (!running.isEmpty()) {
                finish(running.removeFirst());
                checkInvariants();
            }
            // Every lock was undone: everything is evictable, and evicting it all returns every page.
            assertEquals(cache.cachedPages(), cache.evictablePages());
            evict(Integer.MAX_VALUE);
            assertEquals(pool.numPages(), pool.numFree());
            assertEquals(0, cache.cachedPages());
        }

        private void start() {
            String ns = NAMESPACES[random.nextInt(NAMESPACES.length)];
            int[] tokens = prompt();
            MatchResult r = cache.match(ns, tokens, tokens.length - 1);
            int expectedPages = modelLongestMatch(ns, tokens, tokens.length - 1);
            assertEquals(expectedPages * pageSize, r.numTokens(), "longest cached page-aligned prefix");
            assertEquals(r.numTokens(), r.report().cachedTokens());
            int[] expected = new int[expectedPages];
            for (int i = 0; i < expectedPages; i++) expected[i] = (int) entry(ns, tokens, i + 1)[0];
            assertArrayEquals(expected, r.pages(), "matched pages");
            checkReport(ns, tokens, tokens.length - 1, r.report());
            touch(ns, tokens, expectedPages);
            cache.lock(r.lastNode());
            pending = new Seq(ns, tokens, r.lastNode(), r.pages(), new int[0]);
            int numNeeded = (tokens.length + pageSize - 1) / pageSize - expectedPages;
            if (!pool.canAllocate(numNeeded)) evict(numNeeded - pool.numFree());
            pending = null;
            if (!pool.canAllocate(numNeeded)) {
                cache.unlock(r.lastNode());
                return;
            }
            running.add(new Seq(ns, tokens, r.lastNode(), r.pages(), pool.allocate(numNeeded)));
        }

        private void finish(Seq seq) {
            int numFull = seq.tokens.length / pageSize;
            int[] all = concat(seq.matched, seq.own);
            int[] toInsert = Arrays.copyOf(all, numFull);
            List<Integer> expectedReturned = new ArrayList<>();
            clock++;
            for (int i = 0; i < numFull; i++) {
                List<Integer> key = prefix(seq.tokens, i + 1);
                long[] e = model.get(seq.namespace).get(key);
                if (e == null) model.get(seq.namespace).put(key, new long[] {toInsert[i], clock});
                else {
                    if (e[0] != toInsert[i]) expectedReturned.add(toInsert[i]);
                    e[1] = clock;
                }
            }
            int[] returned = cache.insert(seq.namespace, seq.tokens, toInsert);
            assertEquals(expectedReturned, Arrays.stream(returned).boxed().toList(), "pages the tree did not take");
            pool.free(returned);
            pool.free(Arrays.copyOfRange(all, numFull, all.length)); // the partial last page
            cache.unlock(seq.lastNode);
        }

        private void preempt(Seq seq) {
            pool.free(seq.own);
            cache.unlock(seq.lastNode);
        }

        /** Evicts in the cache and in the model (unlocked leaf pages, least recently used first). */
        private void evict(int numPages) {
            List<Integer> expectedFreed = new ArrayList<>();
            while (expectedFreed.size() < numPages) {
                String bestNs = null;
                List<Integer> best = null;
                long bestTime = Long.MAX_VALUE;
                for (String ns : NAMESPACES) {
                    for (Map.Entry<List<Integer>, long[]> e : model.get(ns).entrySet()) {
                        if (!isLeaf(ns, e.getKey()) || isLocked(ns, e.getKey())) continue;
                        assertTrue(e.getValue()[1] != bestTime, "model assumption: no two leaves share a last use");
                        if (e.getValue()[1] < bestTime) {
                            bestTime = e.getValue()[1];
                            bestNs = ns;
                            best = e.getKey();
                        }
                    }
                }
                if (best == null) break;
                expectedFreed.add((int) model.get(bestNs).remove(best)[0]);
            }
            int freed = cache.evict(numPages);
            assertEquals(expectedFreed.size(), freed, "pages evicted");
            for (int page : expectedFreed) assertTrue(pool.isFree(page), "LRU victim page " + page + " freed");
        }

        private void checkInvariants() {
            int numCached = 0;
            int numUnlocked = 0;
            Set<Integer> cachedPages = new HashSet<>();
            for (String ns : NAMESPACES) {
                for (Map.Entry<List<Integer>, long[]> e : model.get(ns).entrySet()) {
                    numCached++;
                    if (!isLocked(ns, e.getKey())) numUnlocked++;
                    int page = (int) e.getValue()[0];
                    assertFalse(pool.isFree(page), "cached page " + page + " must not be free");
                    assertTrue(cachedPages.add(page), "page " + page + " cached twice");
                }
            }
            int numHeld = 0;
            for (Seq seq : running) {
                numHeld += seq.own.length;
                for (int page : seq.own) assertFalse(pool.isFree(page), "a running sequence's page was freed");
                for (int page : seq.matched) assertTrue(cachedPages.contains(page), "a locked page left the cache");
            }
            assertEquals(numCached, cache.cachedPages(), "cached pages");
            assertEquals(numUnlocked, cache.evictablePages(), "evictable pages");
            assertEquals(pool.numPages(), pool.numFree() + cache.cachedPages() + numHeld, "no page leaked");
        }

        /** The report's claims, each recomputed from the model. */
        private void checkReport(String ns, int[] tokens, int limit, CacheReport report) {
            int longestCommon = 0; // token-level: the most tokens any cached path shares with the prompt
            for (List<Integer> key : model.get(ns).keySet()) {
                int n = Math.min(key.size(), limit);
                int i = 0;
                while (i < n && key.get(i) == tokens[i]) i++;
                longestCommon = Math.max(longestCommon, i);
            }
            int cached = report.cachedTokens();
            switch (report.outcome()) {
                case SHORTER_THAN_PAGE -> assertTrue(limit < pageSize);
                case EMPTY_CACHE -> assertTrue(model.get(ns).isEmpty());
                case DIVERGED -> {
                    assertEquals(longestCommon, report.divergedAt(), "divergence position");
                    assertEquals(tokens[report.divergedAt()], report.promptToken());
                    assertTrue(report.cachedToken() != report.promptToken());
                }
                case PARTIAL_PAGE -> assertEquals(limit, longestCommon, "the prompt ends inside the cached path");
                case FULL_HIT -> assertTrue(cached == limit / pageSize * pageSize || longestCommon == cached);
                case OTHER_NAMESPACE -> {
                    String other = ns.equals(NAMESPACES[0]) ? NAMESPACES[1] : NAMESPACES[0];
                    assertTrue(modelLongestMatch(other, tokens, limit) * pageSize > cached);
                }
                case EVICTED -> assertTrue(cached < limit / pageSize * pageSize);
            }
            if (report.outcome() != CacheReport.Outcome.DIVERGED) assertEquals(-1, report.divergedAt());
            assertTrue(report.message().startsWith(cached + " of " + tokens.length + " prompt tokens from cache"));
        }

        // ---- the naive model ----

        private int modelLongestMatch(String ns, int[] tokens, int limit) {
            int k = 0;
            while ((k + 1) * pageSize <= limit && model.get(ns).containsKey(prefix(tokens, k + 1))) k++;
            return k;
        }

        private void touch(String ns, int[] tokens, int numPages) {
            clock++;
            for (int i = 1; i <= numPages; i++) entry(ns, tokens, i)[1] = clock;
        }

        private long[] entry(String ns, int[] tokens, int numPages) {
            return model.get(ns).get(prefix(tokens, numPages));
        }

        private boolean isLeaf(String ns, List<Integer> key) {
            for (List<Integer> other : model.get(ns).keySet()) {
                if (other.size() == key.size() + pageSize && other.subList(0, key.size()).equals(key)) return false;
            }
            return true;
        }

        private boolean isLocked(String ns, List<Integer> key) {
            List<Seq> lockers = new ArrayList<>(running);
            if (pending != null) lockers.add(pending);
            for (Seq seq : lockers) {
                if (seq.namespace.equals(ns) && seq.matched.length * pageSize >= key.size()
                        && prefix(seq.tokens, key.size() / pageSize).equals(key)) return true;
            }
            return false;
        }

        private List<Integer> prefix(int[] tokens, int numPages) {
            return Arrays.stream(tokens, 0, numPages * pageSize).boxed().toList();
        }

        private int[] prompt() {
            int[] base = bases[random.nextInt(bases.length)];
            int[] tokens = Arrays.copyOf(base, 1 + random.nextInt(base.length));
            if (random.nextBoolean()) tokens[random.nextInt(tokens.length)] = random.nextInt(3);
            return random.nextInt(4) == 0 ? concat(tokens, randomTokens(random.nextInt(10))) : tokens;
        }

        private int[] randomTokens(int n) {
            int[] t = new int[n];
            for (int i = 0; i < n; i++) t[i] = random.nextInt(3);
            return t;
        }

        private static int[] concat(int[] a, int[] b) {
            int[] c = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, c, a.length, b.length);
            return c;
        }
    }
}
