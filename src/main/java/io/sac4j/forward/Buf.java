package io.sac4j.forward;

/** A rows x cols f32 activation matrix owned by a {@link Backend} (host memory on CPU, device memory on CUDA). */
public interface Buf {
    int rows();

    int cols();
}
