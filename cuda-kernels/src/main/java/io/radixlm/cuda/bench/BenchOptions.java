package io.radixlm.cuda.bench;

import java.util.Set;
import java.util.TreeSet;

/**
 * What `radixlm bench` runs.
 *
 * @param items      item numbers 1..8 (see {@link BenchRunner})
 * @param quick      shorter runs (fewer steps and repetitions, a smaller workload) for a first look
 * @param maxSeconds after this many seconds the remaining cases are skipped, and the report says so
 */
public record BenchOptions(Set<Integer> items, boolean quick, double maxSeconds) {
    public static final Set<Integer> ALL_ITEMS = java.util.Collections.unmodifiableSortedSet(new TreeSet<>(Set.of(1, 2, 3, 4, 5, 6, 7, 8)));

    public BenchOptions {
        items = java.util.Collections.unmodifiableSortedSet(new TreeSet<>(items));
        if (items.isEmpty()) throw new IllegalArgumentException("choose at least one item " + ALL_ITEMS);
        for (int item : items) {
            if (!ALL_ITEMS.contains(item)) throw new IllegalArgumentException("no bench item " + item + " (items are " + ALL_ITEMS + ")");
        }
        if (!(maxSeconds > 0)) throw new IllegalArgumentException("--max-seconds must be positive, got " + maxSeconds);
    }

    /** Parses "1,2,5" (spaces allowed). */
    public static Set<Integer> parseItems(String text) {
        Set<Integer> items = new TreeSet<>();
        for (String part : text.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) continue;
            try {
                items.add(Integer.parseInt(p));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--items takes item numbers separated by commas, got '" + text + "'");
            }
        }
        return items;
    }
}
