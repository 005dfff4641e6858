// f32 -> bf16 / f16 (round to nearest even) over n elements: K/V rows into a bf16 cache, and activations
// into the weight type for cuBLAS. Grid: ceil(n / SAC_ELEMWISE_THREADS) blocks (grid-stride loop).
#pragma once
#include "common.cuh"

#ifndef SAC_ELEMWISE_THREADS
#define SAC_ELEMWISE_THREADS 256
#endif

extern "C" __global__ void sac_f32_to_bf16(unsigned short* dst, const float* src, long long n);
extern "C" __global__ void sac_f32_to_f16(unsigned short* dst, const float* src, long long n);
