#include "attention.cuh"

namespace sac_attn {

// Four consecutive cache elements as floats (16-byte f32 load, or 8-byte load of four bf16).
static __device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }

static __device__ __forceinline__ float4 load4(const unsigned short* p) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    return make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u),
                       __uint_as_float(u.y << 16), __uint_as_float(u.y & 0xffff0000u));
}

static __device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }

static __device__ __forceinline__ void axpy4(float4& acc, float p, float4 v) {
    acc.x += p * v.x;
    acc.y += p * v.y;
    acc.z += p * v.z;
    acc.w += p * v.w;
}

static __device__ __forceinline__ void scale4(float4& a, float s) {
    a.x *= s;
    a.y *= s;
    a.z *= s;
    a.w *= s;
}

// Thread layout: 4 threads per query vector (lanes 4i..4i+3 of a warp); thread `part` owns the float4 chunks
// part, part + 4, part + 8, ... of the head, so the 4 threads read 4 adjacent chunks of a shared-memory row
// (no bank conflicts) and a score needs two shuffles to sum. Every thread of a query keeps the same m and l.
template <typename T, int HD, bool EXACT>
static __device__ __forceinline__ void attend(float* out, const float* q, const T* k0, const T* v0, int n0,
                                              const T* k1, const T* v1, int rows, int n_heads, int n_kv_heads,
                                              int hd, int start, int kind, int bs, float scale, int split_len,
                                              float* part_o, float* part_ml) {
    constexpr int BK = HD <= 128 ? 32 : 16;  // keys per tile: K and V tiles take 2 * BK * HD * 4 bytes
    constexpr int C = HD / 16;               // chunks per thread
    __shared__ float4 ks[BK][HD / 4];
    __shared__ float4 vs[BK][HD / 4];

    const int tid = threadIdx.x, part = tid & 3;
    const int group = n_heads / n_kv_heads, kvh = blockIdx.y;
    const int nq = rows * group, first = blockIdx.x * SAC_ATTN_QV, qv = first + (tid >> 2);
    const bool active = qv < nq;
    const int r = active ? qv / group : 0, h = kvh * group + (active ? qv - r * group : 0);
    const int last = min(first + SAC_ATTN_QV, nq) - 1;
    // lo and hi are monotone in the row, so the block's keys are [lo(first row), hi(last row))
    const int ulo = sac_mask_lo(kind, start, bs, first / group), uhi = sac_mask_hi(kind, start, rows, bs, last / group);
    const int lo = ulo + (int) blockIdx.z * split_len;
    const int hi = (int) min((long long) uhi, (long long) lo + split_len);  // split_len may be INT_MAX
    const int mylo = max(lo, sac_mask_lo(kind, start, bs, r));
    const int myhi = active ? min(hi, sac_mask_hi(kind, start, rows, bs, r)) : lo;
    const int hd4 = hd / 4, kv_stride = n_kv_heads * hd;
    const float qscale = scale * 1.4426950408889634f;  // softmax in base 2: exp(x) = exp2(x * log2 e)

    float4 qr[C], acc[C];
    const float* qrow = q + ((size_t) r * n_heads + h) * hd;
#pragma unroll
    for (int i = 0; i < C; i++) {
        const int c = part + 4 * i;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (active && (EXACT || c < hd4)) {
            v = *reinterpret_cast<const float4*>(qrow + 4 * c);
            scale4(v, qscale);
        }
        qr[i] = v;
        acc[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    float m = -INFINITY, l = 0.0f;

    for (int t0 = lo; t0 < hi; t0 += BK) {
        // stage the tile's K and V rows as f32 (zeros past hi)
        for (int e = tid; e < BK * hd4; e += SAC_ATTN_THREADS) {
            const int j = e / hd4, c = e - j * hd4, key = t0 + j;
            float4 kk = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kk;
            if (key < hi) {
                const size_t off = (size_t) kvh * hd + 4 * c;
                const size_t row = key < n0 ? (size_t) key * kv_stride : (size_t) (key - n0) * kv_stride;
                kk = load4((key < n0 ? k0 : k1) + row + off);
                vv = load4((key < n0 ? v0 : v1) + row + off);
            }
            ks[j][c] = kk;
            vs[j][c] = vv;
        }
        __syncthreads();

        // scores of this query against the tile (log2 units), masked keys at -inf
        float s[BK];
        float tmax = -INFINITY;
#pragma unroll
        for (int j = 0; j < BK; j++) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < C; i++) {
                const int c = part + 4 * i;
                if (EXACT || c < hd4) d += dot4(qr[i], ks[j][c]);
            }
            d += __shfl_xor_sync(0xffffffffu, d, 1);
            d += __shfl_xor_sync(0xffffffffu, d, 2);
            const int key = t0 + j;
            s[j] = key >= mylo && key < myhi ? d : -INFINITY;
            tmax = fmaxf(tmax, s[j]);
        }

        // online softmax: rescale what was accumulated to the new maximum, then add this tile
        const float mnew = fmaxf(m, tmax);
        if (mnew != -INFINITY) {
            const float alpha = exp2f(m - mnew);
            l *= alpha;
#pragma unroll
            for (int i = 0; i < C; i++) scale4(acc[i], alpha);
#pragma unroll
            for (int j = 0; j < BK; j++) {
                const float p = exp2f(s[j] - mnew);
                l += p;
#pragma unroll
                for (int i = 0; i < C; i++) {
                    const int c = part + 4 * i;
                    if (EXACT || c < hd4) axpy4(acc[i], p, vs[j][c]);
                }
            }
            m = mnew;
        }
        __syncthreads();
    }

    if (!active) return;
    if (part_o == nullptr) {
        const float inv = 1.0f / l;  // l >= 1: every row sees at least one key, and its maximum gives p = 1
        float* orow = out + ((size_t) r * n_heads + h) * hd;
#pragma unroll
        for (int i = 0; i < C; i++) {
            const int c = part + 4 * i;
            if (EXACT || c < hd4) {
                float4 v = acc[i];
                scale4(v, inv);
                *reinterpret_cast<float4*>(orow + 4 * c) = v;
            }
        }
    } else {
        const size_t slot = ((size_t) blockIdx.z * rows + r) * n_heads + h;
        float* orow = part_o + slot * hd;
#pragma unroll
        for (int i = 0; i < C; i++) {
            const int c = part + 4 * i;
            if (EXACT || c < hd4) *reinterpret_cast<float4*>(orow + 4 * c) = acc[i];
        }
        if (part == 0) {
            part_ml[2 * slot] = m;
            part_ml[2 * slot + 1] = l;
        }
    }
}

}  // namespace sac_attn

#define SAC_ATTN_DEFINE(NAME, T, HD, EXACT)                                                                       \
    extern "C" __global__ void __launch_bounds__(SAC_ATTN_THREADS)                                              \
    NAME(float* out, const float* q, const T* k0, const T* v0, int n0, const T* k1, const T* v1, int rows,       \
         int n_heads, int n_kv_heads, int head_dim, int start, int mask_kind, int block_size, float scale,       \
         int split_len, float* part_o, float* part_ml) {                                                         \
        sac_attn::attend<T, HD, EXACT>(out, q, k0, v0, n0, k1, v1, rows, n_heads, n_kv_heads, head_dim, start,   \
                                       mask_kind, block_size, scale, split_len, part_o, part_ml);                \
    }

SAC_ATTN_DEFINE(sac_attn_f32_d32, float, 32, false)
SAC_ATTN_DEFINE(sac_attn_f32_d64, float, 64, true)
SAC_ATTN_DEFINE(sac_attn_f32_d128, float, 128, true)
SAC_ATTN_DEFINE(sac_attn_f32_d256, float, 256, false)
SAC_ATTN_DEFINE(sac_attn_bf16_d32, unsigned short, 32, false)
SAC_ATTN_DEFINE(sac_attn_bf16_d64, unsigned short, 64, true)
SAC_ATTN_DEFINE(sac_attn_bf16_d128, unsigned short, 128, true)
SAC_ATTN_DEFINE(sac_attn_bf16_d256, unsigned short, 256, false)

extern "C" __global__ void __launch_bounds__(SAC_ATTN_COMBINE_THREADS)
sac_attn_combine(float* out, const float* part_o, const float* part_ml, int splits, int rows, int n_heads, int head_dim) {
    const size_t slot = blockIdx.x, per_split = (size_t) rows * n_heads;
    float mx = -INFINITY;
    for (int z = 0; z < splits; z++) mx = fmaxf(mx, part_ml[2 * (z * per_split + slot)]);
    float l = 0.0f;
    for (int z = 0; z < splits; z++) {
        const float* ml = part_ml + 2 * (z * per_split + slot);
        l += ml[1] * exp2f(ml[0] - mx);  // an empty split has m = -inf, l = 0
    }
    const float inv = 1.0f / l;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float o = 0.0f;
        for (int z = 0; z < splits; z++)
            o += part_o[(z * per_split + slot) * head_dim + d] * exp2f(part_ml[2 * (z * per_split + slot)] - mx);
        out[slot * head_dim + d] = o * inv;
    }
}
