#include "argmax.cuh"

namespace sac_argmax {

// (v, i) beats (bv, bi) if larger, or equal with a smaller index
static __device__ __forceinline__ void better(float& bv, int& bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

}  // namespace sac_argmax

extern "C" __global__ void __launch_bounds__(SAC_ARGMAX_THREADS)
sac_argmax_f32(int* out, const float* x, int cols) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* xr = x + (size_t) blockIdx.x * cols;
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = xr[c];
        sac_argmax::better(bv, bi, v != v ? -INFINITY : v, c);
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float v = __shfl_xor_sync(0xffffffffu, bv, o);
        const int i = __shfl_xor_sync(0xffffffffu, bi, o);
        sac_argmax::better(bv, bi, v, i);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sv[warp] = bv;
        si[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
        bv = lane < (int) (blockDim.x >> 5) ? sv[lane] : -INFINITY;
        bi = lane < (int) (blockDim.x >> 5) ? si[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            const float v = __shfl_xor_sync(0xffffffffu, bv, o);
            const int i = __shfl_xor_sync(0xffffffffu, bi, o);
            sac_argmax::better(bv, bi, v, i);
        }
        if (lane == 0) out[blockIdx.x] = bi;
    }
}
