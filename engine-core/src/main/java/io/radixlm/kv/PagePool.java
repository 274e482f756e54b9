package io.radixlm.kv;

/**
 * The physical KV pages, ids 0..numPages-1, and which of them are free. Holds no KV data: the backend
 * owns the memory, this class only hands out page ids. Allocate and free are O(1) per page (a stack of
 * free ids), and a page is handed out at most once until it is freed.
 *
 * <p>Not thread-safe: the scheduler owns it.
 */
public final class PagePool {
    private final int[] freeStack;   // (numPages) free page ids in [0, numFree); the top is at numFree - 1
    private final boolean[] isFree;  // (numPages) true while the page is on the stack
    private int numFree;

    public PagePool(int numPages) {
        if (numPages < 1) throw new IllegalArgumentException("a page pool needs at least 1 page, got " + numPages);
        freeStack = new int[numPages];
        isFree = new boolean[numPages];
        // Reversed so that allocation hands out 0, 1, 2, ... — easier to read in traces.
        for (int i = 0; i < numPages; i++) {
            freeStack[i] = numPages - 1 - i;
            isFree[i] = true;
        }
        numFree = numPages;
    }

    public int numPages() { return freeStack.length; }

    public int numFree() { return numFree; }

    public boolean canAllocate(int n) { return n >= 0 && n <= numFree; }

    /** True while page is free (not held by a sequence or the radix cache). */
    public boolean isFree(int page) {
        checkRange(page);
        return isFree[page];
    }

    /** Takes n free pages; throws IllegalStateException (taking none) if fewer than n are free. */
    public int[] allocate(int n) {
        if (n < 0) throw new IllegalArgumentException("cannot allocate a negative number of pages: " + n);
        if (n > numFree) {
            throw new IllegalStateException("cannot allocate " + n + " pages: only " + numFree + " of "
                    + numPages() + " are free");
        }
        int[] pages = new int[n];
        for (int i = 0; i < n; i++) {
            int page = freeStack[--numFree];
            isFree[page] = false;
            pages[i] = page;
        }
        return pages;
    }

    /**
     * Returns pages to the pool. All-or-nothing: if any id is out of range, already free, or listed twice,
     * it throws IllegalStateException and frees none of them (a double free is always a caller bug).
     */
    public void free(int[] pages) {
        for (int i = 0; i < pages.length; i++) {
            int page = pages[i];
            if (page < 0 || page >= numPages() || isFree[page]) {
                for (int j = 0; j < i; j++) isFree[pages[j]] = false; // roll back the marks of this call
                throw new IllegalStateException(page < 0 || page >= numPages()
                        ? "page id " + page + " is outside the pool of " + numPages() + " pages"
                        : "double free of page " + page);
            }
            isFree[page] = true; // marked now so that a duplicate inside this call is caught
        }
        for (int page : pages) freeStack[numFree++] = page;
    }

    private void checkRange(int page) {
        if (page < 0 || page >= numPages()) {
            throw new IllegalArgumentException("page id " + page + " is outside the pool of " + numPages() + " pages");
        }
    }
}
