#include "swiglu.cuh"

extern "C" __global__ void __launch_bounds__(SAC_ELEMWISE_THREADS)
sac_swiglu_f32(float* gate, const float* up, long long n) {
    const long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
