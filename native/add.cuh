// Residual and bias additions. sac_add_f32: x[i] += y[i] over n elements, grid ceil(n / SAC_ELEMWISE_THREADS).
// sac_add_bias_f32: x[r][c] += bias[c], grid ceil(rows * cols / SAC_ELEMWISE_THREADS). Both grid-stride loops.
#pragma once
#include "common.cuh"

#ifndef SAC_ELEMWISE_THREADS
#define SAC_ELEMWISE_THREADS 256
#endif

extern "C" __global__ void sac_add_f32(float* x, const float* y, long long n);
extern "C" __global__ void sac_add_bias_f32(float* x, const float* bias, int rows, int cols);
