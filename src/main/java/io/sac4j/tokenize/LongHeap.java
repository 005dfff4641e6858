package io.sac4j.tokenize;

import java.util.Arrays;

/** A binary min-heap of longs: merge candidates packed so that the natural order is the merge order. */
final class LongHeap {
    private long[] h;
    private int n;

    LongHeap(int capacity) {
        h = new long[Math.max(4, capacity)];
    }

    boolean isEmpty() {
        return n == 0;
    }

    void push(long v) {
        if (n == h.length) h = Arrays.copyOf(h, n * 2);
        int i = n++;
        while (i > 0) {
            int p = (i - 1) >>> 1;
            if (h[p] <= v) break;
            h[i] = h[p];
            i = p;
        }
        h[i] = v;
    }

    long pop() {
        long top = h[0];
        long last = h[--n];
        int i = 0;
        while (true) {
            int c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && h[c + 1] < h[c]) c++;
            if (h[c] >= last) break;
            h[i] = h[c];
            i = c;
        }
        h[i] = last;
        return top;
    }
}
