package io.radixlm.kv;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;

/**
 * A radix tree of cached token prefixes whose KV lives in pages of a {@link PagePool}, page-granular and
 * one tree per namespace (cache salt), so requests of different namespaces never share a page.
 *
 * <p>Every edge holds a whole number of pages. Nodes hold page ids, never KV data. A node's lock count is
 * the number of locked paths passing through it, so an ancestor is locked at least as often as any of its
 * descendants; an unlocked node therefore has only unlocked descendants and is evictable leaf by leaf.
 * Splitting a node keeps the original object as the lower half, so a handle returned by {@link #match}
 * always names the end of the same token path and stays valid for {@link #unlock}.
 *
 * <p>Not thread-safe: the scheduler owns it.
 */
public final class RadixCache {
    private static final int HISTORY_CAPACITY = 8192;
    private static final Comparator<Node> LEAST_RECENT_FIRST =
            Comparator.comparingLong((Node n) -> n.lastAccess).thenComparingLong(n -> n.id);

    private final PagePool pool;
    private final int pageSize;
    private final Map<String, Node> roots = new LinkedHashMap<>();
    private final boolean[] owned; // (numPages) true for pages the tree holds
    private final EvictionHistory evictedChains = new EvictionHistory(HISTORY_CAPACITY);
    private long clock;            // logical time for LRU: bumped by every match and insert
    private long nextNodeId;
    private int cachedPages;
    private int evictablePages;    // pages of nodes whose lock count is 0

    /** A tree node: opaque to callers, a handle for {@link #lock} and {@link #unlock}. */
    public static final class Node {
        private final long id;
        private final String namespace;
        private final Map<PageKey, Node> children = new HashMap<>();
        private Node parent;       // null for a namespace root
        private int[] tokens;      // (numPages * pageSize) the tokens this edge adds to its parent's path
        private int[] pages;       // (numPages) pages[j] holds tokens[j*pageSize, (j+1)*pageSize)
        private long startHash;    // EvictionHistory chain key of the path before this node
        private int lockRef;
        private long lastAccess;
        private boolean detached;  // evicted: no longer in the tree

        private Node(long id, String namespace, Node parent, int[] tokens, int[] pages, long startHash) {
            this.id = id;
            this.namespace = namespace;
            this.parent = parent;
            this.tokens = tokens;
            this.pages = pages;
            this.startHash = startHash;
        }

        @Override
        public String toString() {
            return "Node[" + id + ", " + pages.length + " pages, locks " + lockRef + "]";
        }
    }

    /** A child's key: the tokens of its first page. */
    private record PageKey(int[] tokens) {
        @Override public boolean equals(Object o) { return o instanceof PageKey k && Arrays.equals(tokens, k.tokens); }
        @Override public int hashCode() { return Arrays.hashCode(tokens); }
        @Override public String toString() { return Arrays.toString(tokens); }
    }

    public RadixCache(PagePool pool, int pageSize) {
        this.pool = Objects.requireNonNull(pool, "pool");
        if (pageSize < 1) throw new IllegalArgumentException("page size must be >= 1, got " + pageSize);
        this.pageSize = pageSize;
        this.owned = new boolean[pool.numPages()];
    }

    public int pageSize() { return pageSize; }

    /**
     * Longest cached prefix of tokens[0, limit) in namespace, whole pages only (numTokens is a multiple of
     * pageSize; pages[i] holds tokens [i*pageSize, (i+1)*pageSize)). Marks the matched path as recently used;
     * never changes what is cached and never locks. If the match ends inside a node, the node is split there
     * (same content, one more node) so that locking the returned node pins exactly the matched pages.
     * The report explains hits and misses.
     */
    public MatchResult match(String namespace, int[] tokens, int limit) {
        Objects.requireNonNull(tokens, "tokens");
        if (limit < 0 || limit > tokens.length) {
            throw new IllegalArgumentException("limit " + limit + " is outside [0, " + tokens.length + "]");
        }
        Node node = rootOf(namespace);
        long now = ++clock;
        node.lastAccess = now;
        int[] pages = new int[limit / pageSize];
        int numTokens = 0;
        while (numTokens + pageSize <= limit) {
            Node child = node.children.get(keyAt(tokens, numTokens));
            if (child == null) break;
            int numEqual = equalPages(child, tokens, numTokens, (limit - numTokens) / pageSize);
            boolean whole = numEqual == child.pages.length;
            if (!whole) child = split(child, numEqual);
            System.arraycopy(child.pages, 0, pages, numTokens / pageSize, numEqual);
            child.lastAccess = now;
            numTokens += numEqual * pageSize;
            node = child;
            if (!whole) break;
        }
        CacheReport report = explain(namespace, tokens, limit, node, numTokens);
        return new MatchResult(numTokens, Arrays.copyOf(pages, numTokens / pageSize), node, report);
    }

    /** Pins the path root..node: none of its pages is evicted until the matching unlock. Nestable. */
    public void lock(Node node) {
        if (node.detached) throw new IllegalStateException("cannot lock " + node + ": it was evicted");
        for (Node n = node; n != null; n = n.parent) {
            if (n.lockRef++ == 0) evictablePages -= n.pages.length;
        }
    }

    /** Undoes one {@link #lock} of the same node. */
    public void unlock(Node node) {
        if (node.lockRef <= 0) throw new IllegalStateException("unlock of " + node + " without a matching lock");
        for (Node n = node; n != null; n = n.parent) {
            if (--n.lockRef == 0) evictablePages += n.pages.length;
        }
    }

    /**
     * Caches tokens[0, pages.length*pageSize) whose KV lives in pages. The tree takes ownership of the pages
     * of the part it did not hold; returns the pages of the argument the tree does NOT own after the call
     * (duplicates of content already cached under other page ids) — the caller frees exactly those.
     * Pages the tree already holds at the same positions (from an earlier match) are neither taken twice
     * nor returned. Marks the path as recently used.
     */
    public int[] insert(String namespace, int[] tokens, int[] pages) {
        Objects.requireNonNull(tokens, "tokens");
        checkInsertArguments(tokens, pages);
        Node node = rootOf(namespace);
        long now = ++clock;
        node.lastAccess = now;
        int[] notOwned = new int[pages.length];
        int numNotOwned = 0;
        int page = 0;
        while (page < pages.length) {
            int start = page * pageSize;
            Node child = node.children.get(keyAt(tokens, start));
            if (child == null) {
                addLeaf(node, tokens, pages, page, now);
                break;
            }
            int numEqual = equalPages(child, tokens, start, pages.length - page);
            if (numEqual < child.pages.length) child = split(child, numEqual);
            for (int j = 0; j < numEqual; j++) {
                if (child.pages[j] != pages[page + j]) notOwned[numNotOwned++] = pages[page + j];
            }
            child.lastAccess = now;
            page += numEqual;
            node = child;
        }
        return Arrays.copyOf(notOwned, numNotOwned);
    }

    /**
     * Evicts unlocked leaves, least recently used first, returning their pages to the pool, until numPages
     * pages were freed or nothing evictable is left; returns the number freed. A leaf larger than what is
     * still needed loses only its last pages (the node is split), so no more than numPages are freed.
     */
    public int evict(int numPages) {
        PriorityQueue<Node> leaves = new PriorityQueue<>(LEAST_RECENT_FIRST);
        if (numPages > 0) collectEvictableLeaves(leaves);
        int numFreed = 0;
        while (numFreed < numPages && !leaves.isEmpty()) {
            Node leaf = leaves.poll();
            int numExcess = leaf.pages.length - (numPages - numFreed);
            if (numExcess > 0) split(leaf, numExcess); // the leaf object keeps the tail that goes
            Node parent = leaf.parent;
            numFreed += remove(leaf);
            if (parent.parent != null && parent.children.isEmpty() && parent.lockRef == 0) leaves.add(parent);
        }
        return numFreed;
    }

    /** Pages that {@link #evict} could free now (held by nodes no one has locked). */
    public int evictablePages() { return evictablePages; }

    /** Pages the tree holds. */
    public int cachedPages() { return cachedPages; }

    // ---- tree surgery ----

    private Node rootOf(String namespace) {
        Objects.requireNonNull(namespace, "namespace");
        return roots.computeIfAbsent(namespace,
                ns -> new Node(nextNodeId++, ns, null, new int[0], new int[0], EvictionHistory.seed(ns)));
    }

    private void addLeaf(Node parent, int[] tokens, int[] pages, int fromPage, long now) {
        int[] leafPages = Arrays.copyOfRange(pages, fromPage, pages.length);
        int[] leafTokens = Arrays.copyOfRange(tokens, fromPage * pageSize, pages.length * pageSize);
        Node leaf = new Node(nextNodeId++, parent.namespace, parent, leafTokens, leafPages, endHash(parent));
        leaf.lastAccess = now;
        parent.children.put(keyAt(leafTokens, 0), leaf);
        for (int p : leafPages) owned[p] = true;
        cachedPages += leafPages.length;
        evictablePages += leafPages.length;
    }

    /**
     * Splits node after its first numFirst pages into a new upper node (returned) and the original object,
     * which keeps the rest — so handles to node still name the end of the same path.
     */
    private Node split(Node node, int numFirst) {
        int numFirstTokens = numFirst * pageSize;
        Node upper = new Node(nextNodeId++, node.namespace, node.parent,
                Arrays.copyOf(node.tokens, numFirstTokens), Arrays.copyOf(node.pages, numFirst), node.startHash);
        upper.lockRef = node.lockRef; // every locked path through node also runs through upper
        upper.lastAccess = node.lastAccess;
        node.parent.children.put(keyAt(node.tokens, 0), upper);
        node.tokens = Arrays.copyOfRange(node.tokens, numFirstTokens, node.tokens.length);
        node.pages = Arrays.copyOfRange(node.pages, numFirst, node.pages.length);
        node.startHash = endHash(upper);
        node.parent = upper;
        upper.children.put(keyAt(node.tokens, 0), node);
        return upper;
    }

    /** Detaches an unlocked leaf, remembers its page chains as evicted, frees its pages; returns how many. */
    private int remove(Node leaf) {
        leaf.parent.children.remove(keyAt(leaf.tokens, 0));
        long h = leaf.startHash;
        for (int j = 0; j < leaf.pages.length; j++) {
            h = EvictionHistory.extend(h, leaf.tokens, j * pageSize, pageSize);
            evictedChains.record(h);
            owned[leaf.pages[j]] = false;
        }
        pool.free(leaf.pages);
        leaf.detached = true;
        cachedPages -= leaf.pages.length;
        evictablePages -= leaf.pages.length;
        return leaf.pages.length;
    }

    private void collectEvictableLeaves(PriorityQueue<Node> leaves) {
        ArrayDeque<Node> todo = new ArrayDeque<>(roots.values());
        while (!todo.isEmpty()) {
            Node n = todo.pop();
            if (n.parent != null && n.children.isEmpty() && n.lockRef == 0) leaves.add(n);
            todo.addAll(n.children.values());
        }
    }

    private void checkInsertArguments(int[] tokens, int[] pages) {
        if ((long) pages.length * pageSize > tokens.length) {
            throw new IllegalArgumentException(pages.length + " pages need " + (long) pages.length * pageSize
                    + " tokens, got " + tokens.length);
        }
        boolean[] seen = new boolean[owned.length];
        for (int p : pages) {
            if (p < 0 || p >= owned.length) throw new IllegalArgumentException("page id " + p + " is outside the pool");
            if (seen[p]) throw new IllegalArgumentException("page " + p + " is listed twice");
            if (pool.isFree(p)) throw new IllegalStateException("page " + p + " is free in the pool; it holds no KV");
            seen[p] = true;
        }
    }

    // ---- token comparison ----

    private PageKey keyAt(int[] tokens, int from) {
        return new PageKey(Arrays.copyOfRange(tokens, from, from + pageSize));
    }

    /** Leading pages of node equal to tokens from {@code from}, at most maxPages. */
    private int equalPages(Node node, int[] tokens, int from, int maxPages) {
        int numPages = Math.min(maxPages, node.pages.length);
        for (int j = 0; j < numPages; j++) {
            int at = j * pageSize;
            if (!Arrays.equals(node.tokens, at, at + pageSize, tokens, from + at, from + at + pageSize)) return j;
        }
        return numPages;
    }

    private long endHash(Node node) {
        return EvictionHistory.extend(node.startHash, node.tokens, 0, node.tokens.length);
    }

    // ---- the report ----

    /** Why the match of tokens[0, limit) stopped at numTokens (the end of node). */
    private CacheReport explain(String namespace, int[] tokens, int limit, Node node, int numTokens) {
        int numPrompt = tokens.length;
        if (limit < pageSize) return CacheReports.shorterThanPage(numPrompt, limit, pageSize);
        Continuation next = continuation(node, tokens, numTokens, limit);
        int full = limit / pageSize * pageSize;
        if (numTokens == full) {
            boolean tailCached = numTokens < limit && next != null && next.numEqual == limit - numTokens;
            return tailCached ? CacheReports.partialPage(numTokens, numPrompt, limit - numTokens, pageSize)
                    : CacheReports.fullHit(numTokens, numPrompt);
        }
        boolean diverges = next != null && next.numEqual < limit - numTokens;
        int divergedAt = diverges ? numTokens + next.numEqual : -1;
        int promptToken = diverges ? tokens[divergedAt] : -1;
        int cachedToken = diverges ? next.node.tokens[next.numEqual] : -1;
        long nextPageKey = EvictionHistory.extend(endHash(node), tokens, numTokens, pageSize);
        if (evictedChains.contains(nextPageKey)) {
            return CacheReports.evicted(numTokens, numPrompt, pageSize, divergedAt, promptToken, cachedToken);
        }
        int otherBest = bestInOtherNamespaces(namespace, tokens, limit);
        if (otherBest > numTokens) return CacheReports.otherNamespace(numTokens, numPrompt, otherBest);
        if (numTokens == 0 && node.children.isEmpty()) return CacheReports.emptyCache(numPrompt);
        if (diverges) return CacheReports.diverged(numTokens, numPrompt, divergedAt, promptToken, cachedToken);
        return CacheReports.pathEnds(numTokens, numPrompt);
    }

    /** The child of node sharing the most tokens with tokens[from, limit), token by token. */
    private record Continuation(Node node, int numEqual) {}

    private static Continuation continuation(Node node, int[] tokens, int from, int limit) {
        Continuation best = null;
        for (Node child : node.children.values()) {
            int n = Math.min(child.tokens.length, limit - from);
            int i = Arrays.mismatch(child.tokens, 0, n, tokens, from, from + n);
            int numEqual = i < 0 ? n : i;
            if (best == null || numEqual > best.numEqual
                    || numEqual == best.numEqual && LEAST_RECENT_FIRST.compare(child, best.node) > 0) {
                best = new Continuation(child, numEqual);
            }
        }
        return best;
    }

    /** Longest page-aligned match of tokens[0, limit) in any namespace but this one; touches nothing. */
    private int bestInOtherNamespaces(String namespace, int[] tokens, int limit) {
        int best = 0;
        for (Map.Entry<String, Node> e : roots.entrySet()) {
            if (e.getKey().equals(namespace)) continue;
            Node node = e.getValue();
            int numTokens = 0;
            while (numTokens + pageSize <= limit) {
                Node child = node.children.get(keyAt(tokens, numTokens));
                if (child == null) break;
                int numEqual = equalPages(child, tokens, numTokens, (limit - numTokens) / pageSize);
                numTokens += numEqual * pageSize;
                if (numEqual < child.pages.length) break;
                node = child;
            }
            best = Math.max(best, numTokens);
        }
        return best;
    }
}
