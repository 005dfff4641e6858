// Flash attention on the tensor cores (FlashAttention-2 style, mma.sync m16n8k16 bf16 -> f32, sm_80+) for bf16 KV
// caches and head dims 64 / 128: the same arguments, masks, grouped-query flattening and split-K partials as
// attention.cuh's sac_attn_bf16_d64/d128, which it replaces when CudaBackend's KV cache is bf16. Q and the
// softmax weights P are rounded to bf16 for the products (accumulation stays f32), so it agrees with the f32
// kernels to about 1e-5 in normalised squared error, not 1e-12.
// A block is 4 warps; each warp owns 16 query vectors (one mma row tile) and keeps its S tile, running max/sum
// and O accumulators in registers: S = Q K^T, then P (the S accumulators reused as A fragments), then O += P V,
// V read through ldmatrix.trans. K/V tiles of SAC_ATTN_MMA_BK keys are staged in shared memory as bf16.
// Grid: (ceil(rows * n_heads / n_kv_heads / SAC_ATTN_MMA_QV), n_kv_heads, splits); block SAC_ATTN_MMA_THREADS.
#pragma once
#include "common.cuh"

#define SAC_ATTN_MMA_QV 64
#define SAC_ATTN_MMA_THREADS 128
#define SAC_ATTN_MMA_BK 64

#define SAC_ATTN_MMA_DECLARE(NAME)                                                                                 \
    extern "C" __global__ void NAME(float* out, const float* q, const unsigned short* k0, const unsigned short* v0, \
                                    int n0, const unsigned short* k1, const unsigned short* v1, int rows,          \
                                    int n_heads, int n_kv_heads, int head_dim, int start, int mask_kind,          \
                                    int block_size, float scale, int split_len, float* part_o, float* part_ml)

SAC_ATTN_MMA_DECLARE(sac_attn_mma_bf16_d64);
SAC_ATTN_MMA_DECLARE(sac_attn_mma_bf16_d128);
