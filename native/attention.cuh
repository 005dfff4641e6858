// Flash-style attention over a KV cache: tiles of keys/values in shared memory, online softmax, f32 accumulation;
// the score matrix is never stored. One kernel for every mask: query row r of `rows` new rows (cache index
// start + r) sees cache rows [lo(r), hi(r)) with
//   CAUSAL, PREFIX: lo = 0,                          hi = start + r + 1
//   BLOCKS:         lo = start + (r / bs) * bs,      hi = start + min((r / bs + 1) * bs, rows)
// (io.sac4j.forward.Mask.lo/hi). Grouped-query attention in-kernel: a block serves SAC_ATTN_QV query vectors
// (row, head) of ONE kv head, flattened row-major over (row, head in group), so each K/V tile feeds them all.
//
// q, out:  [rows][n_heads * head_dim] f32 (RoPE already applied to q).
// K/V:     cache rows of n_kv_heads * head_dim elements (f32 or bf16 by kernel name); rows [0, n0) are in
//          k0/v0 (the shared prefix cache) and rows from n0 on in k1/v1 (the cache's own storage).
// scale:   1 / sqrt(head_dim).
// Split-K (decode over long prefixes): gridDim.z splits; split z takes keys [ulo + z * split_len, +split_len)
// of the block's key range and writes unnormalised partials part_o [z][rows][n_heads][head_dim] and
// part_ml [z][rows][n_heads][2] = (running max in log2 units, sum); sac_attn_combine then writes out.
// With gridDim.z == 1 pass part_o = part_ml = null and split_len >= the longest key range.
//
// Variants: _d64 and _d128 need head_dim == 64 / 128 exactly; _d32 takes head_dim <= 32 and _d256
// head_dim <= 256; head_dim must be a multiple of 4 (16-byte rows of four floats).
// Grid: (ceil(rows * n_heads / n_kv_heads / SAC_ATTN_QV), n_kv_heads, splits); block SAC_ATTN_THREADS.
// sac_attn_combine: grid rows * n_heads, block SAC_ATTN_COMBINE_THREADS.
#pragma once
#include "common.cuh"

#define SAC_ATTN_QV 64
#define SAC_ATTN_THREADS 256
#define SAC_ATTN_COMBINE_THREADS 128

#define SAC_ATTN_DECLARE(NAME, T)                                                                                 \
    extern "C" __global__ void NAME(float* out, const float* q, const T* k0, const T* v0, int n0, const T* k1,    \
                                    const T* v1, int rows, int n_heads, int n_kv_heads, int head_dim, int start, \
                                    int mask_kind, int block_size, float scale, int split_len, float* part_o,    \
                                    float* part_ml)

SAC_ATTN_DECLARE(sac_attn_f32_d32, float);
SAC_ATTN_DECLARE(sac_attn_f32_d64, float);
SAC_ATTN_DECLARE(sac_attn_f32_d128, float);
SAC_ATTN_DECLARE(sac_attn_f32_d256, float);
SAC_ATTN_DECLARE(sac_attn_bf16_d32, unsigned short);
SAC_ATTN_DECLARE(sac_attn_bf16_d64, unsigned short);
SAC_ATTN_DECLARE(sac_attn_bf16_d128, unsigned short);
SAC_ATTN_DECLARE(sac_attn_bf16_d256, unsigned short);

extern "C" __global__ void sac_attn_combine(float* out, const float* part_o, const float* part_ml, int splits,
                                            int rows, int n_heads, int head_dim);
