#include "embed.cuh"

namespace sac_embed {

template <int W> static __device__ __forceinline__ void embed(float* out, const unsigned char* table, const int* tokens, int cols) {
    const unsigned char* row = table + (size_t) tokens[blockIdx.x] * sac_row_bytes<W>(cols);
    float* o = out + (size_t) blockIdx.x * cols;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) o[i] = sac_weight<W>(row, i);
}

}  // namespace sac_embed

extern "C" __global__ void __launch_bounds__(SAC_EMBED_THREADS)
sac_embed_f32(float* out, const unsigned char* table, const int* tokens, int cols) {
    sac_embed::embed<SAC_W_F32>(out, table, tokens, cols);
}

extern "C" __global__ void __launch_bounds__(SAC_EMBED_THREADS)
sac_embed_bf16(float* out, const unsigned char* table, const int* tokens, int cols) {
    sac_embed::embed<SAC_W_BF16>(out, table, tokens, cols);
}

extern "C" __global__ void __launch_bounds__(SAC_EMBED_THREADS)
sac_embed_f16(float* out, const unsigned char* table, const int* tokens, int cols) {
    sac_embed::embed<SAC_W_F16>(out, table, tokens, cols);
}

extern "C" __global__ void __launch_bounds__(SAC_EMBED_THREADS)
sac_embed_q8_0(float* out, const unsigned char* table, const int* tokens, int cols) {
    sac_embed::embed<SAC_W_Q8_0>(out, table, tokens, cols);
}
