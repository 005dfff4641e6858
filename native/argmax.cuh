// out[r] = index of the largest x[r][c] (the first one on ties, like torch.argmax and Sampler.argmax);
// NaN counts as -infinity. Grid: one block per row; block SAC_ARGMAX_THREADS.
#pragma once
#include "common.cuh"

#define SAC_ARGMAX_THREADS 512

extern "C" __global__ void sac_argmax_f32(int* out, const float* x, int cols);
