#include "add.cuh"

extern "C" __global__ void __launch_bounds__(SAC_ELEMWISE_THREADS)
sac_add_f32(float* x, const float* y, long long n) {
    const long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += y[i];
}

extern "C" __global__ void __launch_bounds__(SAC_ELEMWISE_THREADS)
sac_add_bias_f32(float* x, const float* bias, int rows, int cols) {
    const long long n = (long long) rows * cols, stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += bias[i % cols];
}
