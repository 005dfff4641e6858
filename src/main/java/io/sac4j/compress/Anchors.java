package io.sac4j.compress;

import io.sac4j.SacException;

import java.util.Arrays;

/**
 * Which context tokens become anchors (SAC.md, "Compression"). The context is cut into chunks of {@value #CHUNK}
 * tokens that are compressed independently; in a chunk of length L the anchors sit at local indices off, off+r,
 * off+2r, ... &lt; L with off = (r-1)/2, or at local index 0 alone when L &lt;= off. Results are global indices,
 * one array per chunk, ascending.
 */
public final class Anchors {
    /** Tokens per chunk; chunk k covers global indices [510k, min(510(k+1), n)). */
    public static final int CHUNK = 510;

    private Anchors() {
    }

    /** First anchor's local index in a chunk longer than it: (r-1)/2, the middle of the first r tokens. */
    public static int offset(int ratio) {
        checkRatio(ratio);
        return (ratio - 1) / 2;
    }

    /** Anchors in a chunk of {@code length} tokens (&gt;= 1). */
    public static int countInChunk(int length, int ratio) {
        int off = offset(ratio);
        if (length <= off) return 1;
        return (int) (((long) length - off + ratio - 1) / ratio);
    }

    /** Anchors in a full chunk: the role tokens an adapter trained for this ratio has (102, 34, 10 for 5, 15, 51). */
    public static int perFullChunk(int ratio) {
        return countInChunk(CHUNK, ratio);
    }

    /** Local anchor indices of a chunk of {@code length} tokens. */
    public static int[] inChunk(int length, int ratio) {
        if (length < 1) throw new IllegalArgumentException("chunk length must be >= 1: " + length);
        int off = offset(ratio);
        if (length <= off) return new int[]{0};
        int[] out = new int[countInChunk(length, ratio)];
        for (int i = 0; i < out.length; i++) out[i] = off + i * ratio;
        return out;
    }

    /** Number of chunks of an n-token context. */
    public static int chunks(int n) {
        checkLength(n);
        return (n + CHUNK - 1) / CHUNK;
    }

    /** Length of chunk {@code k} of an n-token context. */
    public static int chunkLength(int n, int k) {
        return Math.min(CHUNK, n - k * CHUNK);
    }

    /** Total anchors of an n-token context: the compressed context's rows. */
    public static int count(int n, int ratio) {
        int full = n / CHUNK, rest = n % CHUNK;
        return full * perFullChunk(ratio) + (rest == 0 ? 0 : countInChunk(rest, ratio));
    }

    /** The uniform choice: global anchor indices per chunk. */
    public static int[][] uniform(int n, int ratio) {
        checkRatio(ratio);
        int[][] out = new int[chunks(n)][];
        for (int k = 0; k < out.length; k++) {
            int[] a = inChunk(chunkLength(n, k), ratio);
            for (int i = 0; i < a.length; i++) a[i] += k * CHUNK;
            out[k] = a;
        }
        return out;
    }

    /**
     * The random-anchors ablation: per chunk as many anchors as {@link #uniform}, drawn without replacement. One
     * splitmix64 generator seeded with {@code seed} serves the whole context, chunks in order; a chunk of length L
     * with c anchors takes c steps of a partial Fisher-Yates shuffle of 0..L-1 (step i swaps i with
     * i + (next() mod (L - i)), next() read as an unsigned 64-bit integer) and sorts the first c. Documented this
     * exactly so that scripts/reference/ref_sac.py draws the same anchors.
     */
    public static int[][] random(int n, int ratio, long seed) {
        checkRatio(ratio);
        SplitMix64 g = new SplitMix64(seed);
        int[][] out = new int[chunks(n)][];
        for (int k = 0; k < out.length; k++) {
            int length = chunkLength(n, k), count = countInChunk(length, ratio);
            int[] idx = new int[length];
            for (int i = 0; i < length; i++) idx[i] = i;
            for (int i = 0; i < count; i++) {
                int j = i + (int) Long.remainderUnsigned(g.next(), length - i);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
            int[] a = Arrays.copyOf(idx, count);
            Arrays.sort(a);
            for (int i = 0; i < count; i++) a[i] += k * CHUNK;
            out[k] = a;
        }
        return out;
    }

    /** All chunks' indices in one ascending array. */
    public static int[] flatten(int[][] perChunk) {
        return Arrays.stream(perChunk).flatMapToInt(Arrays::stream).toArray();
    }

    static void checkRatio(int ratio) {
        if (ratio < 1) throw new SacException("ratio must be >= 1 (one anchor every r tokens), got " + ratio);
    }

    private static void checkLength(int n) {
        if (n < 1) throw new SacException("the context must have at least 1 token, got " + n);
    }

    /** splitmix64 (Steele, Lea and Flood, 2014): a tiny generator that a reference script can reproduce exactly. */
    static final class SplitMix64 {
        private long state;

        SplitMix64(long seed) {
            state = seed;
        }

        long next() {
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
    }
}
