// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * gain. Grid: one block per row; block SAC_RMSNORM_THREADS.
#pragma once
#include "common.cuh"

#define SAC_RMSNORM_THREADS 256

extern "C" __global__ void sac_rmsnorm_f32(float* out, const float* x, const float* gain, int cols, float eps);
