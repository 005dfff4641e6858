// Built-in matrix products out[m][n] = sum_k x[m][k] * w[n][k]: x f32 [M][K], w the weight's raw bytes [N][K]
// in its type (Q8_0: K a multiple of 32), out f32 [M][N], f32 accumulation. CudaBackend uses cuBLAS
// (cublasGemmEx) for f32/bf16/f16 prefill when libcublas loads; these kernels cover Q8_0, decode and machines
// without cuBLAS.
// sac_gemm_*: 64 x 64 output tiles; grid (ceil(N / SAC_GEMM_TILE), ceil(M / SAC_GEMM_TILE)), block SAC_GEMM_THREADS.
// sac_gemv_*: M <= SAC_GEMV_ROWS (decode): one warp per output column, the weight row read once for all M rows;
//             grid ceil(N / (SAC_GEMV_THREADS / 32)), block SAC_GEMV_THREADS.
#pragma once
#include "common.cuh"

#define SAC_GEMM_TILE 64
#define SAC_GEMM_THREADS 256
#define SAC_GEMV_ROWS 8
#define SAC_GEMV_THREADS 256

#define SAC_MATMUL_DECLARE(NAME) \
    extern "C" __global__ void NAME(float* out, const float* x, const unsigned char* w, int M, int N, int K)

SAC_MATMUL_DECLARE(sac_gemm_f32);
SAC_MATMUL_DECLARE(sac_gemm_bf16);
SAC_MATMUL_DECLARE(sac_gemm_f16);
SAC_MATMUL_DECLARE(sac_gemm_q8_0);
SAC_MATMUL_DECLARE(sac_gemv_f32);
SAC_MATMUL_DECLARE(sac_gemv_bf16);
SAC_MATMUL_DECLARE(sac_gemv_f16);
SAC_MATMUL_DECLARE(sac_gemv_q8_0);
