package io.sac4j.tokenize;

/**
 * Open-addressing map from a pair of token ids to a long value (BPE: rank and merged id), without boxing: encode
 * looks pairs up in its inner loop and Llama 3 has 280,000 merges.
 */
final class PairMap {
    private static final long EMPTY = -1L;
    private long[] keys;
    private long[] values;
    private int size;
    private int mask;

    PairMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected * 2) - 1) << 1;
        keys = new long[cap];
        values = new long[cap];
        java.util.Arrays.fill(keys, EMPTY);
        mask = cap - 1;
    }

    static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xffffffffL);
    }

    private static int slot(long k, int mask) {
        long h = k * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Sets the value of pair (a, b), replacing an earlier one. Ids must be non-negative. */
    void put(int a, int b, long value) {
        if ((size + 1) * 2 > keys.length) grow();
        long k = key(a, b);
        int i = slot(k, mask);
        while (keys[i] != EMPTY && keys[i] != k) i = (i + 1) & mask;
        if (keys[i] == EMPTY) size++;
        keys[i] = k;
        values[i] = value;
    }

    /** The value of pair (a, b), or {@code missing}. */
    long get(int a, int b, long missing) {
        long k = key(a, b);
        int i = slot(k, mask);
        while (true) {
            long kk = keys[i];
            if (kk == k) return values[i];
            if (kk == EMPTY) return missing;
            i = (i + 1) & mask;
        }
    }

    int size() {
        return size;
    }

    private void grow() {
        long[] ok = keys;
        long[] ov = values;
        keys = new long[ok.length * 2];
        values = new long[ok.length * 2];
        java.util.Arrays.fill(keys, EMPTY);
        mask = keys.length - 1;
        size = 0;
        for (int i = 0; i < ok.length; i++) {
            if (ok[i] != EMPTY) put((int) (ok[i] >>> 32), (int) ok[i], ov[i]);
        }
    }
}
