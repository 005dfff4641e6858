package io.sac4j.load;

/**
 * Element types of weight tensors. Q8_0 is GGUF's block format: blocks of 32 weights, each an f16 scale followed by
 * 32 int8 values (34 bytes), so a row's byte size is (cols / 32) * 34.
 */
public enum DType {
    F32(4, 1), F16(2, 1), BF16(2, 1), Q8_0(34, 32);

    /** Bytes per block and elements per block (1 for the plain float types). */
    public final int blockBytes, blockSize;

    DType(int blockBytes, int blockSize) {
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    /** Bytes taken by {@code elements} values; elements must be a multiple of the block size. */
    public long bytes(long elements) {
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }
}
