package io.radixlm.kv;

import java.util.Iterator;
import java.util.LinkedHashSet;

/**
 * A bounded memory of page chains that were evicted, so that a miss can be explained as "it was cached,
 * then evicted" rather than "never seen". A chain is named by a 64-bit hash of (namespace, every token up
 * to the end of its page); a collision could only mislabel a miss, never change what is cached.
 * The oldest records are forgotten first once capacity is reached.
 */
final class EvictionHistory {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private final int capacity;
    private final LinkedHashSet<Long> keys = new LinkedHashSet<>(); // insertion order = age, oldest first

    EvictionHistory(int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        this.capacity = capacity;
    }

    void record(long chainKey) {
        keys.remove(chainKey); // re-recording refreshes its age
        keys.add(chainKey);
        if (keys.size() > capacity) {
            Iterator<Long> oldest = keys.iterator();
            oldest.next();
            oldest.remove();
        }
    }

    boolean contains(long chainKey) { return keys.contains(chainKey); }

    int size() { return keys.size(); }

    /** The chain key of an empty prefix in namespace. */
    static long seed(String namespace) {
        long h = mix(GOLDEN ^ namespace.length());
        for (int i = 0; i < namespace.length(); i++) h = mix(h + namespace.charAt(i));
        return h;
    }

    /** The chain key after appending tokens[from, from + count) to the prefix whose key is h. */
    static long extend(long h, int[] tokens, int from, int count) {
        for (int i = from; i < from + count; i++) h = mix(h + (tokens[i] & 0xFFFFFFFFL));
        return h;
    }

    // SplitMix64's finalizer: every input bit flips about half the output bits.
    private static long mix(long z) {
        z += GOLDEN;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
