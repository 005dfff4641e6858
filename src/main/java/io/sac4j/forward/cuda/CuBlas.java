package io.sac4j.forward.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;

import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasGetStatusName;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

/**
 * GEMM through cuBLAS (cublasGemmEx), which the presets expose: f32, bf16 and f16 weights as stored, activations
 * converted to the weight type, f32 output and f32 compute (CUBLAS_COMPUTE_32F; no TF32). Optional: libcublas
 * is a separate library from the driver, so when it does not load the backend keeps its own kernels (matmul.cu).
 */
final class CuBlas implements AutoCloseable {
    private final cublasContext handle = new cublasContext();
    private final FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f);
    private boolean open;

    /** Loads libcublas and creates a handle on the device's primary context (the one CudaBackend uses). */
    CuBlas(int device) {
        Loader.load(cublas.class);
        int rc = cudaSetDevice(device);
        if (rc != 0) throw new CudaException("cudaSetDevice", rc, "cudaError " + rc);
        check(cublasCreate_v2(handle), "cublasCreate");
        open = true;
        try {
            check(cublasSetStream_v2(handle, (CUstream_st) null), "cublasSetStream");  // the legacy stream, like the kernels
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * out[M][N] (f32) = x[M][K] · w[N][K]^T with x and w of cudaDataType {@code type}, all row-major. cuBLAS is
     * column-major, so this computes out^T = w · x^T: w read transposed (lda K), x as is (ldb K), out^T with ldc N.
     */
    void gemm(long out, long x, long w, int type, int m, int n, int k) {
        check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, one, new Cu.Addr(w, 0), type, k,
                new Cu.Addr(x, 0), type, k, zero, new Cu.Addr(out, 0), CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                CUBLAS_GEMM_DEFAULT), "cublasGemmEx(" + m + "x" + n + "x" + k + ")");
    }

    private static void check(int status, String call) {
        if (status != 0) {
            BytePointer name = cublasGetStatusName(status);
            throw new CudaException(call, status, name == null || name.isNull() ? "cublasStatus " + status : name.getString());
        }
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            check(cublasDestroy_v2(handle), "cublasDestroy");
        }
        one.close();
        zero.close();
    }
}
