package io.sac4j.load;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A weight tensor: a typed view on memory (usually a slice of a memory-mapped file, never copied on the heap).
 * {@code shape} is in row-major torch order, so a linear layer's weight is [out, in] and row i is output i.
 */
public record Tensor(String name, DType type, long[] shape, MemorySegment data) {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    public long elements() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Number of rows (shape[0]) of a 2-D tensor; 1 for a vector. */
    public int rows() {
        return shape.length == 1 ? 1 : Math.toIntExact(shape[0]);
    }

    /** Length of a row (the last dimension). */
    public int cols() {
        return Math.toIntExact(shape[shape.length - 1]);
    }

    public long rowBytes() {
        return type.bytes(cols());
    }

    /** Dequantizes row {@code row} into {@code dst[off .. off+cols)}. */
    public void readRow(int row, float[] dst, int off) {
        int n = cols();
        long base = row * rowBytes();
        switch (type) {
            case F32 -> MemorySegment.copy(data, F32, base, dst, off, n);
            case BF16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = bf16(data.get(I16, base + 2L * i));
            }
            case F16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = Float.float16ToFloat(data.get(I16, base + 2L * i));
            }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    long p = base + 34L * b;
                    float d = Float.float16ToFloat(data.get(I16, p));
                    for (int j = 0; j < 32; j++) dst[off + 32 * b + j] = d * data.get(ValueLayout.JAVA_BYTE, p + 2 + j);
                }
            }
        }
    }

    /** The whole tensor as floats (for small tensors: norms, biases, tests). */
    public float[] toFloats() {
        float[] out = new float[Math.toIntExact(elements())];
        int cols = cols();
        for (int r = 0; r < out.length / cols; r++) readRow(r, out, r * cols);
        return out;
    }

    public static float bf16(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape);
    }
}
