#include "anchor_gather.cuh"

extern "C" __global__ void __launch_bounds__(SAC_GATHER_THREADS)
sac_anchor_gather(unsigned char* dst, const unsigned char* seg0, long long seg0_plane, int seg0_rows,
                  const unsigned char* seg1, long long seg1_plane, const int* rows, int n_rows, int row_bytes) {
    const int i = blockIdx.x, plane = blockIdx.y, r = rows[i];
    const unsigned char* src = r < seg0_rows ? seg0 + plane * seg0_plane + (long long) r * row_bytes
                                             : seg1 + plane * seg1_plane + (long long) (r - seg0_rows) * row_bytes;
    unsigned char* out = dst + ((long long) plane * n_rows + i) * row_bytes;
    if (((row_bytes | (int) seg0_plane | (int) seg1_plane) & 15) == 0) {
        // 16-byte copies: device allocations are 256-byte aligned, so every row start is too
        const uint4* s = reinterpret_cast<const uint4*>(src);
        uint4* d = reinterpret_cast<uint4*>(out);
        for (int c = threadIdx.x; c < row_bytes / 16; c += blockDim.x) d[c] = s[c];
    } else {
        const unsigned* s = reinterpret_cast<const unsigned*>(src);
        unsigned* d = reinterpret_cast<unsigned*>(out);
        for (int c = threadIdx.x; c < row_bytes / 4; c += blockDim.x) d[c] = s[c];
    }
}
