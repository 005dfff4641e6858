package io.sac4j.forward.cuda;

import io.sac4j.SacException;

/** A CUDA driver (or cuBLAS) call failed; the message names the call and the error, e.g. CUDA_ERROR_OUT_OF_MEMORY. */
public final class CudaException extends SacException {
    private final int code;

    CudaException(String call, int code, String error) {
        super("CUDA", call + " failed: " + error);
        this.code = code;
    }

    /** The CUresult (or cublasStatus_t) value. */
    public int code() {
        return code;
    }
}
