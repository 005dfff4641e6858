#include "rmsnorm.cuh"

extern "C" __global__ void __launch_bounds__(SAC_RMSNORM_THREADS)
sac_rmsnorm_f32(float* out, const float* x, const float* gain, int cols, float eps) {
    __shared__ float scratch[32];
    const float* xr = x + (size_t) blockIdx.x * cols;
    float* orow = out + (size_t) blockIdx.x * cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) ss += xr[i] * xr[i];
    ss = sac_block_sum(ss, scratch);
    // same order as the CPU backend: (x * scale) * gain
    const float scale = rsqrtf(ss / (float) cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) orow[i] = xr[i] * scale * gain[i];
}
