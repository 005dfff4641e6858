#include "attention_mma.cuh"

namespace sac_attn_mma {

// d += A B for one m16n8k16 tile (fragment layouts: see emu::mma_bf16_16816, which follows the PTX ISA).
static __device__ __forceinline__ void mma(float d[4], const unsigned a[4], unsigned b0, unsigned b1) {
#ifdef SAC_EMULATE
    const unsigned b[2] = {b0, b1};
    emu::mma_bf16_16816(d, a, b);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Four B fragments of V from a row-major [key][dim] shared tile: lanes 8i..8i+7 point at the rows of 8x8 block i.
static __device__ __forceinline__ void ldmatrix_trans(unsigned d[4], const unsigned short* row) {
#ifdef SAC_EMULATE
    emu::ldmatrix_x4_trans(d, row);
#else
    const unsigned addr = (unsigned) __cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(addr));
#endif
}

// Two floats as a bf16 pair, the first in the low half (the lower column of a fragment register).
static __device__ __forceinline__ unsigned pack(float lo, float hi) {
    return (unsigned) sac_to_bf16(lo) | ((unsigned) sac_to_bf16(hi) << 16);
}

static __device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

static __device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Lane (g = lane / 4, t = lane % 4) of warp w holds the rows g and g + 8 of the warp's 16 query vectors: the
// accumulator layout of m16n8k16. Index i in 0..1 below picks one of the two.
template <int HD>
static __device__ __forceinline__ void attend(float* out, const float* q, const unsigned short* k0, const unsigned short* v0,
                                              int n0, const unsigned short* k1, const unsigned short* v1, int rows,
                                              int n_heads, int n_kv_heads, int start, int kind, int bs, float scale,
                                              int split_len, float* part_o, float* part_ml) {
    constexpr int BK = SAC_ATTN_MMA_BK, KS = HD / 16, NT = BK / 8, DT = HD / 8, PAD = HD + 8;
    // [key][dim] tiles; +8 elements per row (16 bytes) put a warp's fragment reads in 32 different banks
    __shared__ __align__(16) unsigned short ks[BK * PAD];
    __shared__ __align__(16) unsigned short vs[BK * PAD];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int group = n_heads / n_kv_heads, kvh = blockIdx.y, kv_stride = n_kv_heads * HD;
    const int nq = rows * group, first = blockIdx.x * SAC_ATTN_MMA_QV;
    const int last = min(first + SAC_ATTN_MMA_QV, nq) - 1;
    const int ulo = sac_mask_lo(kind, start, bs, first / group), uhi = sac_mask_hi(kind, start, rows, bs, last / group);
    const int lo = ulo + (int) blockIdx.z * split_len;
    const int hi = (int) min((long long) uhi, (long long) lo + split_len);

    bool active[2];
    int r[2], h[2], mylo[2], myhi[2];
    for (int i = 0; i < 2; i++) {
        const int qv = first + warp * 16 + g + 8 * i;
        active[i] = qv < nq;
        r[i] = active[i] ? qv / group : 0;
        h[i] = kvh * group + (active[i] ? qv - r[i] * group : 0);
        mylo[i] = max(lo, sac_mask_lo(kind, start, bs, r[i]));
        myhi[i] = active[i] ? min(hi, sac_mask_hi(kind, start, rows, bs, r[i])) : lo;
    }

    // Q * scale * log2(e) as bf16 A fragments: register j holds row g + 8 (j & 1), columns 2t + 8 (j >> 1) + {0, 1}
    unsigned qa[KS][4];
    const float qscale = scale * 1.4426950408889634f;
#pragma unroll
    for (int s = 0; s < KS; s++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = j & 1, col = s * 16 + 2 * t + 8 * (j >> 1);
            const float* qr = q + ((size_t) r[i] * n_heads + h[i]) * HD + col;
            qa[s][j] = active[i] ? pack(qr[0] * qscale, qr[1] * qscale) : 0u;
        }

    float o[DT][4];
#pragma unroll
    for (int d = 0; d < DT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

    for (int t0 = lo; t0 < hi; t0 += BK) {
        // stage the tile's K and V rows (8 bytes = 4 bf16 per load; zeros past hi)
        for (int e = tid; e < BK * HD / 4; e += SAC_ATTN_MMA_THREADS) {
            const int j = e / (HD / 4), c = e - j * (HD / 4), key = t0 + j;
            uint2 kk = {0u, 0u}, vv = {0u, 0u};
            if (key < hi) {
                const size_t off = (key < n0 ? (size_t) key : (size_t) (key - n0)) * kv_stride + (size_t) kvh * HD + 4 * c;
                kk = *reinterpret_cast<const uint2*>((key < n0 ? k0 : k1) + off);
                vv = *reinterpret_cast<const uint2*>((key < n0 ? v0 : v1) + off);
            }
            *reinterpret_cast<uint2*>(&ks[j * PAD + 4 * c]) = kk;
            *reinterpret_cast<uint2*>(&vs[j * PAD + 4 * c]) = vv;
        }
        __syncthreads();

        // S = Q K^T for NT tiles of 8 keys; B fragment: K[key n + g][dims 2t (+8), +1], one 32-bit load each
        float sc[NT][4];
#pragma unroll
        for (int n = 0; n < NT; n++) {
            sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
            const unsigned short* krow = &ks[(n * 8 + g) * PAD + 2 * t];
#pragma unroll
            for (int s = 0; s < KS; s++)
                mma(sc[n], qa[s], *reinterpret_cast<const unsigned*>(krow + s * 16), *reinterpret_cast<const unsigned*>(krow + s * 16 + 8));
        }

        // mask (element j of a tile: row g + 8 (j >> 1), key 2t + (j & 1)) and the rows' new maxima
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int i = j >> 1, key = t0 + n * 8 + 2 * t + (j & 1);
                if (key < mylo[i] || key >= myhi[i]) sc[n][j] = -INFINITY;
                mx[i] = fmaxf(mx[i], sc[n][j]);
            }
        float alpha[2], sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const float mnew = fmaxf(m[i], quad_max(mx[i]));
            alpha[i] = mnew == -INFINITY ? 1.0f : exp2f(m[i] - mnew);
            m[i] = mnew;
        }
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int i = j >> 1;
                const float p = m[i] == -INFINITY ? 0.0f : exp2f(sc[n][j] - m[i]);
                sc[n][j] = p;
                sum[i] += p;
            }
#pragma unroll
        for (int i = 0; i < 2; i++) l[i] = l[i] * alpha[i] + quad_sum(sum[i]);
#pragma unroll
        for (int d = 0; d < DT; d++) {
            o[d][0] *= alpha[0];
            o[d][1] *= alpha[0];
            o[d][2] *= alpha[1];
            o[d][3] *= alpha[1];
        }

        // O += P V, 16 keys per step: P's A fragment is the S accumulators of key tiles 2s and 2s + 1
#pragma unroll
        for (int s = 0; s < BK / 16; s++) {
            const unsigned pa[4] = {pack(sc[2 * s][0], sc[2 * s][1]), pack(sc[2 * s][2], sc[2 * s][3]),
                                    pack(sc[2 * s + 1][0], sc[2 * s + 1][1]), pack(sc[2 * s + 1][2], sc[2 * s + 1][3])};
            // lanes 0-7 / 8-15 address keys 0-7 / 8-15 at dims d*8, lanes 16-31 the same keys at dims (d+1)*8
            const unsigned short* vrow = &vs[(s * 16 + (lane & 15)) * PAD + 8 * (lane >> 4)];
#pragma unroll
            for (int d = 0; d < DT; d += 2) {
                unsigned b[4];
                ldmatrix_trans(b, vrow + d * 8);
                mma(o[d], pa, b[0], b[1]);
                mma(o[d + 1], pa, b[2], b[3]);
            }
        }
        __syncthreads();
    }

    // rows g (o[.][0..1]) and g + 8 (o[.][2..3]); columns d * 8 + 2t, +1
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (!active[i]) continue;
        if (part_o == nullptr) {
            const float inv = 1.0f / l[i];
            float* orow = out + ((size_t) r[i] * n_heads + h[i]) * HD + 2 * t;
#pragma unroll
            for (int d = 0; d < DT; d++) *reinterpret_cast<float2*>(orow + d * 8) = make_float2(o[d][2 * i] * inv, o[d][2 * i + 1] * inv);
        } else {
            const size_t slot = ((size_t) blockIdx.z * rows + r[i]) * n_heads + h[i];
            float* orow = part_o + slot * HD + 2 * t;
#pragma unroll
            for (int d = 0; d < DT; d++) *reinterpret_cast<float2*>(orow + d * 8) = make_float2(o[d][2 * i], o[d][2 * i + 1]);
            if (t == 0) {
                part_ml[2 * slot] = m[i];
                part_ml[2 * slot + 1] = l[i];
            }
        }
    }
}

}  // namespace sac_attn_mma

#define SAC_ATTN_MMA_DEFINE(NAME, HD)                                                                              \
    extern "C" __global__ void __launch_bounds__(SAC_ATTN_MMA_THREADS)                                           \
    NAME(float* out, const float* q, const unsigned short* k0, const unsigned short* v0, int n0,                  \
         const unsigned short* k1, const unsigned short* v1, int rows, int n_heads, int n_kv_heads, int head_dim,  \
         int start, int mask_kind, int block_size, float scale, int split_len, float* part_o, float* part_ml) {    \
        (void) head_dim; /* == HD: the host picks the kernel by head dim */                                      \
        sac_attn_mma::attend<HD>(out, q, k0, v0, n0, k1, v1, rows, n_heads, n_kv_heads, start, mask_kind,         \
                                 block_size, scale, split_len, part_o, part_ml);                                 \
    }

SAC_ATTN_MMA_DEFINE(sac_attn_mma_bf16_d64, 64)
SAC_ATTN_MMA_DEFINE(sac_attn_mma_bf16_d128, 128)
