package io.radixlm.engine;

import java.util.Arrays;

/** A growable int array (token ids, page ids) without boxing. */
final class IntList {
    private int[] values;
    private int size;

    IntList(int capacity) { values = new int[Math.max(4, capacity)]; }

    IntList(int[] initial) {
        values = Arrays.copyOf(initial, Math.max(4, initial.length * 2));
        size = initial.length;
    }

    int size() { return size; }

    int get(int i) {
        if (i >= size) throw new IndexOutOfBoundsException(i);
        return values[i];
    }

    void add(int v) {
        if (size == values.length) values = Arrays.copyOf(values, size * 2);
        values[size++] = v;
    }

    void addAll(int[] vs) {
        for (int v : vs) add(v);
    }

    void set(int i, int v) {
        if (i >= size) throw new IndexOutOfBoundsException(i);
        values[i] = v;
    }

    int last() { return get(size - 1); }

    /** Drops entries from index n on. */
    void truncate(int n) { size = Math.min(size, n); }

    int[] toArray() { return Arrays.copyOf(values, size); }

    int[] slice(int from, int to) { return Arrays.copyOfRange(values, from, to); }
}
