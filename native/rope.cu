#include "rope.cuh"

extern "C" __global__ void __launch_bounds__(SAC_ROPE_THREADS)
sac_rope_f32(float* x, const float* cos, const float* sin, int heads, int head_dim, int row_stride, int halves) {
    const int half = head_dim / 2, r = blockIdx.x;
    float* xr = x + (size_t) r * row_stride;
    const float* c = cos + (size_t) r * half;
    const float* s = sin + (size_t) r * half;
    for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
        const int h = p / half, i = p - h * half;
        float* head = xr + h * head_dim;
        const int a = halves ? i : 2 * i, b = halves ? i + half : 2 * i + 1;
        const float x0 = head[a], x1 = head[b], ci = c[i], si = s[i];
        head[a] = x0 * ci - x1 * si;
        head[b] = x0 * si + x1 * ci;
    }
}
