package io.sac4j.forward.cuda;

import io.sac4j.forward.Buf;

/** A rows x cols f32 matrix in device memory (row-major) of one {@link CudaBackend}; freed when unreachable. */
public final class CudaBuf implements Buf {
    final CudaBackend backend;
    final long ptr;
    private final int rows, cols;

    CudaBuf(CudaBackend backend, int rows, int cols) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("buffer of " + rows + " x " + cols);
        this.backend = backend;
        this.rows = rows;
        this.cols = cols;
        this.ptr = backend.memory.alloc(4L * rows * cols, this);
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    long bytes() {
        return 4L * rows * cols;
    }
}
