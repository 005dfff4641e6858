package io.sac4j.forward.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

import static org.bytedeco.cuda.global.cudart.CUDA_SUCCESS;
import static org.bytedeco.cuda.global.cudart.cuGetErrorName;
import static org.bytedeco.cuda.global.cudart.cuGetErrorString;

/** Checks of driver API results: every CUresult goes through {@link #check}, which throws with the error's name. */
final class Cu {
    private Cu() {
    }

    static void check(int rc, String call) {
        if (rc != CUDA_SUCCESS) throw new CudaException(call, rc, describe(rc));
    }

    /** "CUDA_ERROR_OUT_OF_MEMORY (out of memory)", from cuGetErrorName and cuGetErrorString. */
    static String describe(int rc) {
        try (BytePointer name = new BytePointer((Pointer) null); BytePointer text = new BytePointer((Pointer) null)) {
            String n = cuGetErrorName(rc, name) == CUDA_SUCCESS && !name.isNull() ? name.getString() : "CUresult " + rc;
            return cuGetErrorString(rc, text) == CUDA_SUCCESS && !text.isNull() ? n + " (" + text.getString() + ")" : n;
        }
    }

    /** A JavaCPP pointer to a raw address (device memory, or host memory owned elsewhere); it frees nothing. */
    static final class Addr extends Pointer {
        Addr(long address, long bytes) {
            this.address = address;
            this.limit = bytes;
            this.capacity = bytes;
        }
    }
}
