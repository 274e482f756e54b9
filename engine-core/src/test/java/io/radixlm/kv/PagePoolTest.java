package io.radixlm.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class PagePoolTest {

    @Test
    void allocatesDistinctPagesUntilEmpty() {
        PagePool pool = new PagePool(5);
        int[] a = pool.allocate(3);
        int[] b = pool.allocate(2);
        Set<Integer> all = new HashSet<>();
        for (int p : a) all.add(p);
        for (int p : b) all.add(p);
        assertEquals(Set.of(0, 1, 2, 3, 4), all);
        assertEquals(0, pool.numFree());
        assertFalse(pool.canAllocate(1));
        assertTrue(pool.canAllocate(0));
    }

    @Test
    void allocatingTooManyThrowsAndTakesNothing() {
        PagePool pool = new PagePool(4);
        pool.allocate(3);
        assertThrows(IllegalStateException.class, () -> pool.allocate(2));
        assertEquals(1, pool.numFree());
        assertThrows(IllegalArgumentException.class, () -> pool.allocate(-1));
    }

    @Test
    void doubleFreeAndBadIdsThrowAndFreeNothing() {
        PagePool pool = new PagePool(4);
        int[] pages = pool.allocate(2);
        pool.free(new int[] {pages[0]});
        assertThrows(IllegalStateException.class, () -> pool.free(new int[] {pages[0]}));
        assertThrows(IllegalStateException.class, () -> pool.free(new int[] {pages[1], pages[1]}));
        assertThrows(IllegalStateException.class, () -> pool.free(new int[] {pages[1], 4}));
        assertThrows(IllegalStateException.class, () -> pool.free(new int[] {-1}));
        // The failed calls left pages[1] allocated: freeing it once still works.
        assertEquals(3, pool.numFree());
        assertFalse(pool.isFree(pages[1]));
        pool.free(new int[] {pages[1]});
        assertEquals(4, pool.numFree());
    }

    @Test
    void rejectsAnEmptyPool() {
        assertThrows(IllegalArgumentException.class, () -> new PagePool(0));
    }

    /** Fixed, well-spread seeds (consecutive seeds give {@link Random} correlated first draws). */
    static LongStream seeds() {
        return new SplittableRandom(0x9A6E_9001L).longs(200);
    }

    /** Each run is determined by its seed (pool size and operations); a failure names the seed. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void randomAllocateAndFreeNeverHandsOutAHeldPage(long seed) {
        Random random = new Random(seed);
        int numPages = 1 + random.nextInt(50); // 1..50 pages
        try {
            PagePool pool = new PagePool(numPages);
            List<Integer> held = new ArrayList<>();
            for (int step = 0; step < 200; step++) {
                if (random.nextBoolean()) {
                    int n = random.nextInt(numPages + 1);
                    if (!pool.canAllocate(n)) {
                        assertThrows(IllegalStateException.class, () -> pool.allocate(n));
                        continue;
                    }
                    for (int p : pool.allocate(n)) {
                        assertFalse(held.contains(p), "page " + p + " handed out twice");
                        assertTrue(p >= 0 && p < numPages);
                        held.add(p);
                    }
                } else if (!held.isEmpty()) {
                    int n = 1 + random.nextInt(held.size());
                    int[] toFree = new int[n];
                    for (int i = 0; i < n; i++) toFree[i] = held.remove(random.nextInt(held.size()));
                    pool.free(toFree);
                    for (int p : toFree) assertTrue(pool.isFree(p));
                }
                assertEquals(numPages, pool.numFree() + held.size(), Arrays.toString(held.toArray()));
            }
        } catch (AssertionError | RuntimeException e) {
            throw new AssertionError("seed " + seed + "L (numPages " + numPages + "): " + e.getMessage(), e);
        }
    }
}
