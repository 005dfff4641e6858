// Helpers shared by every kernel file: element conversions and warp/block reductions.
// Everything here is static __device__ so that the unity build (all .cu in one translation unit) and the
// per-file test builds both link. With SAC_EMULATE the same code compiles as C++ for the CPU (emu/cuda_emu.h).
#pragma once

#ifdef SAC_EMULATE
#include "emu/cuda_emu.h"
#else
#include <cuda_fp16.h>
#endif

// Mask kinds: the values of io.sac4j.forward.Mask.Kind.ordinal() (CudaBackend passes the ordinal).
#define SAC_MASK_CAUSAL 0
#define SAC_MASK_BLOCKS 1
#define SAC_MASK_PREFIX 2

// Weight types: io.sac4j.load.DType names; each typed kernel has the type in its name (sac_embed_bf16, ...).
#define SAC_W_F32 0
#define SAC_W_F16 1
#define SAC_W_BF16 2
#define SAC_W_Q8_0 3
#define SAC_Q8_0_BLOCK 32        // weights per Q8_0 block
#define SAC_Q8_0_BLOCK_BYTES 34  // f16 scale + 32 int8

static __device__ __forceinline__ float sac_from_bf16(unsigned short b) {
    return __uint_as_float(((unsigned) b) << 16);
}

// Round to nearest even, NaN kept a (quiet) NaN: the conversion torch and the JDK use.
static __device__ __forceinline__ unsigned short sac_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short) ((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short) (u >> 16);
}

#ifdef SAC_EMULATE
static inline float sac_from_f16(unsigned short h) { return emu::half_to_float(h); }
static inline unsigned short sac_to_f16(float f) { return emu::float_to_half(f); }
#else
static __device__ __forceinline__ float sac_from_f16(unsigned short h) { return __half2float(__ushort_as_half(h)); }
static __device__ __forceinline__ unsigned short sac_to_f16(float f) { return __half_as_ushort(__float2half_rn(f)); }
#endif

// The cache rows [lo, hi) that new row r of `rows` (cache index start + r) sees: io.sac4j.forward.Mask.lo/hi.
// bs is the block size clamped to rows (1 for the other kinds). Both are monotone in r.
static __device__ __forceinline__ int sac_mask_lo(int kind, int start, int bs, int r) {
    return kind == SAC_MASK_BLOCKS ? start + (r / bs) * bs : 0;
}

static __device__ __forceinline__ int sac_mask_hi(int kind, int start, int rows, int bs, int r) {
    return kind == SAC_MASK_BLOCKS ? start + min((r / bs + 1) * bs, rows) : start + r + 1;
}

// Bytes of one [cols] row of weight type W.
template <int W> static __device__ __forceinline__ size_t sac_row_bytes(int cols) {
    return W == SAC_W_F32 ? (size_t) cols * 4
         : W == SAC_W_Q8_0 ? (size_t) (cols / SAC_Q8_0_BLOCK) * SAC_Q8_0_BLOCK_BYTES : (size_t) cols * 2;
}

// Element i of a weight row of type W, as f32 (io.sac4j.load.Tensor.readRow does the same on the host).
template <int W> static __device__ __forceinline__ float sac_weight(const unsigned char* row, int i) {
    if (W == SAC_W_F32) return reinterpret_cast<const float*>(row)[i];
    if (W == SAC_W_BF16) return sac_from_bf16(reinterpret_cast<const unsigned short*>(row)[i]);
    if (W == SAC_W_F16) return sac_from_f16(reinterpret_cast<const unsigned short*>(row)[i]);
    // Q8_0: the block's f16 scale (at an even offset: blocks are 34 bytes) times the int8
    const unsigned char* block = row + (size_t) (i / SAC_Q8_0_BLOCK) * SAC_Q8_0_BLOCK_BYTES;
    const float d = sac_from_f16(*reinterpret_cast<const unsigned short*>(block));
    return d * (float) (signed char) block[2 + i % SAC_Q8_0_BLOCK];
}

static __device__ __forceinline__ float sac_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float sac_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over a block of whole warps (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` is 32 floats of shared memory; the trailing barrier lets the caller reuse it at once.
static __device__ __forceinline__ float sac_block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = sac_warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = sac_warp_sum(v);
    __syncthreads();
    return v;
}
