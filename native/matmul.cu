#include "matmul.cuh"

namespace sac_matmul {

// Tiled SIMT product: x and w tiles staged transposed ([k][row], padded by one word so that the staging stores
// hit 32 different banks); each thread accumulates a 4 x 4 block at rows ty + 16i, columns tx + 16j.
template <int W> static __device__ __forceinline__ void gemm(float* out, const float* x, const unsigned char* w, int M, int N, int K) {
    constexpr int T = SAC_GEMM_TILE, BK = 32;  // BK = 32 keeps a Q8_0 block inside one k tile
    __shared__ float xs[BK][T + 1];
    __shared__ float ws[BK][T + 1];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.y * T, n0 = blockIdx.x * T;
    const size_t rb = sac_row_bytes<W>(K);
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int e = tid; e < T * BK; e += SAC_GEMM_THREADS) {
            const int rr = e / BK, kk = e - rr * BK, k = k0 + kk;
            xs[kk][rr] = m0 + rr < M && k < K ? x[(size_t) (m0 + rr) * K + k] : 0.0f;
            ws[kk][rr] = n0 + rr < N && k < K ? sac_weight<W>(w + (size_t) (n0 + rr) * rb, k) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                a[i] = xs[kk][ty + 16 * i];
                b[i] = ws[kk][tx + 16 * i];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            if (m < M && n < N) out[(size_t) m * N + n] = acc[i][j];
        }
}

// Eight consecutive 16-bit weights (one 16-byte load) as floats.
template <int W> static __device__ __forceinline__ void load8(const unsigned char* p, float* wv) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const unsigned words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const unsigned short lo = (unsigned short) (words[i] & 0xffffu), hi = (unsigned short) (words[i] >> 16);
        wv[2 * i] = W == SAC_W_BF16 ? sac_from_bf16(lo) : sac_from_f16(lo);
        wv[2 * i + 1] = W == SAC_W_BF16 ? sac_from_bf16(hi) : sac_from_f16(hi);
    }
}

template <int W> static __device__ __forceinline__ void gemv(float* out, const float* x, const unsigned char* w, int M, int N, int K) {
    const int lane = threadIdx.x & 31, n = blockIdx.x * (SAC_GEMV_THREADS / 32) + (threadIdx.x >> 5);
    if (n >= N) return;  // whole warps leave together; no block barrier follows
    const unsigned char* row = w + (size_t) n * sac_row_bytes<W>(K);
    float acc[SAC_GEMV_ROWS];
#pragma unroll
    for (int m = 0; m < SAC_GEMV_ROWS; m++) acc[m] = 0.0f;

    if (W == SAC_W_Q8_0) {
        // a lane takes whole blocks: scale, then 32 int8 read as 16 aligned shorts
        for (int b = lane; b < K / SAC_Q8_0_BLOCK; b += 32) {
            const unsigned char* blk = row + (size_t) b * SAC_Q8_0_BLOCK_BYTES;
            const float d = sac_from_f16(*reinterpret_cast<const unsigned short*>(blk));
            const unsigned short* qs = reinterpret_cast<const unsigned short*>(blk + 2);
            float wv[SAC_Q8_0_BLOCK];
#pragma unroll
            for (int j = 0; j < SAC_Q8_0_BLOCK / 2; j++) {
                const unsigned short u = qs[j];
                wv[2 * j] = (float) (signed char) (u & 0xff);
                wv[2 * j + 1] = (float) (signed char) (u >> 8);
            }
#pragma unroll
            for (int m = 0; m < SAC_GEMV_ROWS; m++) {
                if (m >= M) break;
                const float4* xr = reinterpret_cast<const float4*>(x + (size_t) m * K + (size_t) b * SAC_Q8_0_BLOCK);
                float s = 0.0f;
#pragma unroll
                for (int j = 0; j < SAC_Q8_0_BLOCK / 4; j++) {
                    const float4 xv = xr[j];
                    s += xv.x * wv[4 * j] + xv.y * wv[4 * j + 1] + xv.z * wv[4 * j + 2] + xv.w * wv[4 * j + 3];
                }
                acc[m] += d * s;
            }
        }
    } else if (K % 8 == 0) {
        // 16-byte loads: 4 f32 or 8 16-bit weights per load (rows are 16-byte aligned when K % 8 == 0)
        constexpr int V = W == SAC_W_F32 ? 4 : 8;
        for (int k = lane * V; k < K; k += 32 * V) {
            float wv[V];
            if (W == SAC_W_F32) {
                const float4 f = *reinterpret_cast<const float4*>(row + (size_t) k * 4);
                wv[0] = f.x;
                wv[1] = f.y;
                wv[2] = f.z;
                wv[3] = f.w;
            } else {
                load8<W>(row + (size_t) k * 2, wv);
            }
#pragma unroll
            for (int m = 0; m < SAC_GEMV_ROWS; m++) {
                if (m >= M) break;
                const float4* xr = reinterpret_cast<const float4*>(x + (size_t) m * K + k);
                float s = 0.0f;
#pragma unroll
                for (int j = 0; j < V / 4; j++) {
                    const float4 xv = xr[j];
                    s += xv.x * wv[4 * j] + xv.y * wv[4 * j + 1] + xv.z * wv[4 * j + 2] + xv.w * wv[4 * j + 3];
                }
                acc[m] += s;
            }
        }
    } else {
        for (int k = lane; k < K; k += 32) {
            const float wv = sac_weight<W>(row, k);
#pragma unroll
            for (int m = 0; m < SAC_GEMV_ROWS; m++)
                if (m < M) acc[m] += wv * x[(size_t) m * K + k];
        }
    }
#pragma unroll
    for (int m = 0; m < SAC_GEMV_ROWS; m++) {
        if (m >= M) break;
        const float s = sac_warp_sum(acc[m]);
        if (lane == 0) out[(size_t) m * N + n] = s;
    }
}

}  // namespace sac_matmul

#define SAC_MATMUL_DEFINE(NAME, KIND, W, THREADS)                                                               \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                      \
    NAME(float* out, const float* x, const unsigned char* w, int M, int N, int K) {                            \
        sac_matmul::KIND<W>(out, x, w, M, N, K);                                                               \
    }

SAC_MATMUL_DEFINE(sac_gemm_f32, gemm, SAC_W_F32, SAC_GEMM_THREADS)
SAC_MATMUL_DEFINE(sac_gemm_bf16, gemm, SAC_W_BF16, SAC_GEMM_THREADS)
SAC_MATMUL_DEFINE(sac_gemm_f16, gemm, SAC_W_F16, SAC_GEMM_THREADS)
SAC_MATMUL_DEFINE(sac_gemm_q8_0, gemm, SAC_W_Q8_0, SAC_GEMM_THREADS)
SAC_MATMUL_DEFINE(sac_gemv_f32, gemv, SAC_W_F32, SAC_GEMV_THREADS)
SAC_MATMUL_DEFINE(sac_gemv_bf16, gemv, SAC_W_BF16, SAC_GEMV_THREADS)
SAC_MATMUL_DEFINE(sac_gemv_f16, gemv, SAC_W_F16, SAC_GEMV_THREADS)
SAC_MATMUL_DEFINE(sac_gemv_q8_0, gemv, SAC_W_Q8_0, SAC_GEMV_THREADS)
