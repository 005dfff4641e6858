package io.sac4j.forward.cpu;

import io.sac4j.forward.KvCache;

/** Per layer, keys and values as [rows][kvDim] float arrays for the rows this cache owns (after the prefix). */
public final class CpuKvCache extends KvCache {
    final float[][] k, v;
    final int kvDim;

    CpuKvCache(int layers, int kvDim, int capacity, KvCache prefix) {
        super(prefix, capacity);
        if (prefix != null && !(prefix instanceof CpuKvCache p && p.kvDim == kvDim && p.k.length == layers))
            throw new IllegalArgumentException("prefix cache does not fit this model or backend");
        this.kvDim = kvDim;
        k = new float[layers][Math.multiplyExact(capacity, kvDim)];
        v = new float[layers][Math.multiplyExact(capacity, kvDim)];
    }

    /** A full cache over the given rows (e.g. a loaded compressed context): k[layer] and v[layer] are [rows][kvDim]. */
    public static CpuKvCache of(float[][] k, float[][] v, int kvDim) {
        CpuKvCache c = new CpuKvCache(k, v, kvDim);
        c.advance(k[0].length / kvDim);
        return c;
    }

    private CpuKvCache(float[][] k, float[][] v, int kvDim) {
        super(null, k[0].length / kvDim);
        this.kvDim = kvDim;
        this.k = k;
        this.v = v;
    }

    @Override
    public float[][] ownRows(int layer) {
        int n = (length() - prefixLength()) * kvDim;
        return new float[][]{java.util.Arrays.copyOf(k[layer], n), java.util.Arrays.copyOf(v[layer], n)};
    }

    CpuKvCache prefixCache() {
        return (CpuKvCache) prefix;
    }
}
