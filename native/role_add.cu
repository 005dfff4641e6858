#include "role_add.cuh"

extern "C" __global__ void __launch_bounds__(SAC_ROLE_THREADS)
sac_role_add_f32(float* x, const float* roles, const int* rows, const int* role_ids, int cols) {
    float* xr = x + (size_t) rows[blockIdx.x] * cols;
    const float* role = roles + (size_t) role_ids[blockIdx.x] * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) xr[c] += role[c];
}
