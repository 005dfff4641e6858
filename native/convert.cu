#include "convert.cuh"

extern "C" __global__ void __launch_bounds__(SAC_ELEMWISE_THREADS)
sac_f32_to_bf16(unsigned short* dst, const float* src, long long n) {
    const long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = sac_to_bf16(src[i]);
}

extern "C" __global__ void __launch_bounds__(SAC_ELEMWISE_THREADS)
sac_f32_to_f16(unsigned short* dst, const float* src, long long n) {
    const long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = sac_to_f16(src[i]);
}
