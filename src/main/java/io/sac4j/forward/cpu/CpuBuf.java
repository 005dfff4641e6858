package io.sac4j.forward.cpu;

import io.sac4j.forward.Buf;

/** Host activations: a row-major float array (arrays give the Vector API its fastest loads). */
public record CpuBuf(float[] data, int rows, int cols) implements Buf {
    public CpuBuf(int rows, int cols) {
        this(new float[Math.multiplyExact(rows, cols)], rows, cols);
    }
}
