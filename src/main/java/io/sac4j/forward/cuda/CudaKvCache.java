package io.sac4j.forward.cuda;

import io.sac4j.forward.KvCache;

/**
 * Keys and values on the device: one allocation of 2 x layers planes ([layer][K, V]), each {@code capacity} rows of
 * kvDim elements (f32, or bf16 to halve the memory of long contexts), for the rows this cache owns; the rows of
 * its prefix stay in the prefix's own planes and the attention kernel reads both. A prefix is never itself on a
 * prefix (CudaBackend.newCache flattens deeper chains), so a row is in at most two places. Freed when unreachable.
 */
public final class CudaKvCache extends KvCache {
    final CudaBackend backend;
    final int layers, kvDim;
    final boolean bf16;
    final long base;

    CudaKvCache(CudaBackend backend, int layers, int kvDim, boolean bf16, int capacity, CudaKvCache prefix) {
        super(prefix, capacity);
        this.backend = backend;
        this.layers = layers;
        this.kvDim = kvDim;
        this.bf16 = bf16;
        this.base = backend.memory.alloc(2L * layers * planeBytes(), this);
    }

    int elementBytes() {
        return bf16 ? 2 : 4;
    }

    int rowBytes() {
        return kvDim * elementBytes();
    }

    /** Rows of this cache's own storage (not counting the prefix). */
    int ownCapacity() {
        return capacity;
    }

    long planeBytes() {
        return (long) capacity * rowBytes();
    }

    /** Device address of row 0 of this cache's own K (kv = 0) or V (kv = 1) rows of {@code layer}. */
    long plane(int layer, int kv) {
        return base + (2L * layer + kv) * planeBytes();
    }

    CudaKvCache prefixCache() {
        return (CudaKvCache) prefix;
    }

    @Override
    public float[][] ownRows(int layer) {
        return backend.ownRows(this, layer);
    }
}
