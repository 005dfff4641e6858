package io.sac4j.forward;

/**
 * Post-RoPE keys and values of every layer, one row per attended position. A cache may start with a read-only
 * {@code prefix} (another cache, e.g. a compressed SAC context) that is shared, never copied: many caches can sit on
 * one prefix, each appending its own rows. Not thread-safe; the prefix is only read, so it can be shared by threads.
 */
public abstract class KvCache {
    protected final KvCache prefix;
    protected final int capacity;
    protected int length;

    protected KvCache(KvCache prefix, int capacity) {
        if (capacity < 0) throw new IllegalArgumentException("capacity must be >= 0: " + capacity);
        this.prefix = prefix;
        this.capacity = capacity;
        this.length = prefix == null ? 0 : prefix.length();
    }

    /** Rows held, prefix included. */
    public int length() {
        return length;
    }

    /** Rows of the shared prefix (0 without one). */
    public int prefixLength() {
        return prefix == null ? 0 : prefix.length();
    }

    /** Most rows this cache can hold, prefix included. */
    public int capacity() {
        return prefixLength() + capacity;
    }

    public KvCache prefix() {
        return prefix;
    }

    /** Marks {@code rows} more rows (already written by the attention op of every layer) as held. */
    public void advance(int rows) {
        if (length + rows > capacity()) throw new IllegalStateException("KV cache full: " + (length + rows) + " > " + capacity());
        length += rows;
    }

    /**
     * Host copies of this cache's own rows (not the prefix's) of one layer: keys then values, each
     * [rows][kvDim] with rows = length() - prefixLength().
     */
    public abstract float[][] ownRows(int layer);

    /** Forgets rows past {@code newLength} (never the prefix): lets one cache serve many questions. */
    public void truncate(int newLength) {
        if (newLength < prefixLength() || newLength > length)
            throw new IllegalArgumentException("cannot truncate to " + newLength + " (prefix " + prefixLength() + ", length " + length + ")");
        length = newLength;
    }
}
