package io.sac4j.forward.cpu;

import io.sac4j.forward.KvCache;

/**
 * Per layer, the keys and values of the rows this cache owns (after the prefix), laid out for attention: each KV
 * head's rows are contiguous (a task of {@link CpuAttention} streams one region), values as [kvHead][row][headDim]
 * and keys transposed in blocks of {@link #BLOCK} rows, [kvHead][row / 16][headDim][row % 16], so that one
 * dimension of 16 consecutive keys is one vector and scores need no horizontal sums. Appending rows scatters them
 * once; {@link #ownRows} converts back to [row][kvDim].
 */
public final class CpuKvCache extends KvCache {
    /** Keys per transposed block. */
    static final int BLOCK = 16;
    final float[][] k, v;
    final int kvHeads, headDim, kvDim;
    /** Floats per KV head in k[layer] and in v[layer]. */
    final int kHead, vHead;

    CpuKvCache(int layers, int kvHeads, int headDim, int capacity, KvCache prefix) {
        super(prefix, capacity);
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.kvDim = kvHeads * headDim;
        if (prefix != null && !(prefix instanceof CpuKvCache p && p.kvHeads == kvHeads && p.headDim == headDim && p.k.length == layers))
            throw new IllegalArgumentException("prefix cache does not fit this model or backend");
        kHead = Math.multiplyExact((capacity + BLOCK - 1) / BLOCK * BLOCK, headDim);
        vHead = Math.multiplyExact(capacity, headDim);
        k = new float[layers][Math.multiplyExact(kHead, kvHeads)];
        v = new float[layers][Math.multiplyExact(vHead, kvHeads)];
    }

    /** A full cache over the given rows (e.g. a loaded compressed context): k[layer] and v[layer] are [rows][kvDim]. */
    public static CpuKvCache of(float[][] k, float[][] v, int kvHeads, int headDim) {
        int kvDim = kvHeads * headDim, rows = k.length == 0 ? 0 : k[0].length / kvDim;
        CpuKvCache c = new CpuKvCache(k.length, kvHeads, headDim, rows, null);
        for (int l = 0; l < k.length; l++) {
            if (k[l].length != rows * kvDim || v[l].length != rows * kvDim)
                throw new IllegalArgumentException("layer " + l + ": keys/values are not " + rows + " rows of " + kvDim);
            c.write(l, 0, k[l], v[l], rows);
        }
        c.advance(rows);
        return c;
    }

    /** Index in k[layer] of key (row, head g, dim d); row is an own row (0 = first after the prefix). */
    int keyIndex(int row, int g, int d) {
        return g * kHead + ((row / BLOCK) * headDim + d) * BLOCK + row % BLOCK;
    }

    /** Index in v[layer] of value (row, head g, dim d). */
    int valueIndex(int row, int g, int d) {
        return g * vHead + row * headDim + d;
    }

    /** Stores own rows [row0, row0 + n) of keys and values given as [n][kvDim]. */
    void write(int layer, int row0, float[] keys, float[] values, int n) {
        float[] kd = k[layer], vd = v[layer];
        for (int r = 0; r < n; r++)
            for (int g = 0; g < kvHeads; g++) {
                int s = r * kvDim + g * headDim, o = keyIndex(row0 + r, g, 0);
                for (int d = 0; d < headDim; d++) kd[o + d * BLOCK] = keys[s + d];
                System.arraycopy(values, s, vd, valueIndex(row0 + r, g, 0), headDim);
            }
    }

    /** Copies the keys and values of own row {@code row} (kvDim floats each, heads in order) to keys/values[off ..]. */
    void read(int layer, int row, float[] keys, float[] values, int off) {
        float[] kd = k[layer];
        for (int g = 0; g < kvHeads; g++) {
            int o = keyIndex(row, g, 0);
            for (int d = 0; d < headDim; d++) keys[off + g * headDim + d] = kd[o + d * BLOCK];
            System.arraycopy(v[layer], valueIndex(row, g, 0), values, off + g * headDim, headDim);
        }
    }

    @Override
    public float[][] ownRows(int layer) {
        int rows = length() - prefixLength();
        float[] keys = new float[rows * kvDim], values = new float[rows * kvDim];
        for (int r = 0; r < rows; r++) read(layer, r, keys, values, r * kvDim);
        return new float[][]{keys, values};
    }

    CpuKvCache prefixCache() {
        return (CpuKvCache) prefix;
    }
}
