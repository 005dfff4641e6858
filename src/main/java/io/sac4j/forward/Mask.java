package io.sac4j.forward;

/**
 * Which cached rows each new row attends to. New rows are appended to a {@link KvCache} that may already hold
 * {@code start} rows (a prompt prefix, or a compressed SAC context); new row r sits at cache index start + r.
 * Every kind gives each query a contiguous range of cache rows, which is what the kernels consume.
 */
public record Mask(Kind kind, int blockSize) {

    public enum Kind {
        /** Row r sees cache rows [0, start + r]: ordinary left-to-right decoding. */
        CAUSAL,
        /** New rows are cut into blocks of blockSize; a row sees exactly the new rows of its own block (SAC encoder). */
        BLOCKS,
        /** Rows see the whole prefix [0, start) and, among themselves, earlier rows (SAC answering). Needs a prefix. */
        PREFIX
    }

    public static Mask causal() {
        return new Mask(Kind.CAUSAL, 0);
    }

    /** Full bidirectional attention inside each block of {@code size} new rows; blocks never see each other. */
    public static Mask blocks(int size) {
        if (size <= 0) throw new IllegalArgumentException("block size must be positive: " + size);
        return new Mask(Kind.BLOCKS, size);
    }

    public static Mask prefix() {
        return new Mask(Kind.PREFIX, 0);
    }

    /** First visible cache row for new row r of {@code count} rows appended at {@code start}. */
    public int lo(int start, int r) {
        return kind == Kind.BLOCKS ? start + (r / blockSize) * blockSize : 0;
    }

    /** One past the last visible cache row. */
    public int hi(int start, int count, int r) {
        return kind == Kind.BLOCKS ? start + Math.min((r / blockSize + 1) * blockSize, count) : start + r + 1;
    }
}
