// gate[i] = silu(gate[i]) * up[i] over n elements. Grid: ceil(n / SAC_ELEMWISE_THREADS) blocks (grid-stride loop).
#pragma once
#include "common.cuh"

#ifndef SAC_ELEMWISE_THREADS
#define SAC_ELEMWISE_THREADS 256
#endif

extern "C" __global__ void sac_swiglu_f32(float* gate, const float* up, long long n);
