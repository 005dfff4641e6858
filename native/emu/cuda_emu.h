// A CPU stand-in for the few CUDA features the kernels use, so that native/test/check_kernels.cpp can run every
// kernel on a machine without a GPU (scripts/gpu/emu_check.sh). Each block runs on its own, its threads as
// cooperative fibers (ucontext) on one OS thread: __syncthreads and warp shuffles are barriers that switch fibers.
// This checks indexing, masking and reductions; it cannot see timing, memory-model or tensor-core issues.
#pragma once
#include <cmath>
#include <math.h>  // expf, exp2f, fmaxf in the global namespace, as CUDA has them
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Blocks run one at a time, so function-static storage is exactly one block's shared memory.
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
template <class T> inline T __ldg(const T* p) { return *p; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

namespace emu {

struct Fiber {
    ucontext_t ctx;
    dim3 tid;
    int lane, warp;
    unsigned shuffles;  // shuffles done so far: picks one of two exchange buffers
    bool done;
};

struct State {
    dim3 grid, block, bid;
    std::vector<Fiber> fibers;
    std::vector<std::vector<char>> stacks;
    ucontext_t sched;
    Fiber* cur = nullptr;
    std::function<void()> body;
    int alive = 0, arrived = 0;
    unsigned gen = 0;
    std::vector<int> warpAlive, warpArrived;
    std::vector<unsigned> warpGen;
    std::vector<uint64_t> exchange;  // [warp][2][32]
    long progress = 0;
};

inline State& st() {
    static State s;
    return s;
}

inline void yield() {
    State& s = st();
    swapcontext(&s.cur->ctx, &s.sched);
}

inline void syncthreads() {
    State& s = st();
    unsigned g = s.gen;
    if (++s.arrived == s.alive) {
        s.arrived = 0;
        s.gen++;
        s.progress++;
        return;
    }
    while (s.gen == g) yield();
}

inline void warpsync(int w) {
    State& s = st();
    unsigned g = s.warpGen[w];
    if (++s.warpArrived[w] == s.warpAlive[w]) {
        s.warpArrived[w] = 0;
        s.warpGen[w]++;
        s.progress++;
        return;
    }
    while (s.warpGen[w] == g) yield();
}

// Every lane publishes its value, waits for its warp, then reads lane `src`'s. Two buffers alternate: a lane can
// only reuse one after the next exchange's barrier, which every lane reaches after reading this one.
inline uint64_t swap(uint64_t bits, int src) {
    State& s = st();
    Fiber* f = s.cur;
    uint64_t* buf = &s.exchange[(size_t) (f->warp * 2 + (f->shuffles++ & 1)) * 32];
    buf[f->lane] = bits;
    warpsync(f->warp);
    if (src < 0 || src > 31) src = f->lane;
    return buf[src];
}

template <class T> inline T shuffle(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    b = swap(b, src);
    T r;
    std::memcpy(&r, &b, sizeof(T));
    return r;
}

inline void finish(State& s) {
    s.cur->done = true;
    s.alive--;
    s.progress++;
    int w = s.cur->warp;
    s.warpAlive[w]--;
    // exited threads count as arrived, as on the GPU
    if (s.arrived > 0 && s.arrived == s.alive) { s.arrived = 0; s.gen++; }
    if (s.warpArrived[w] > 0 && s.warpArrived[w] == s.warpAlive[w]) { s.warpArrived[w] = 0; s.warpGen[w]++; }
}

inline void trampoline() {
    State& s = st();
    s.body();
    finish(s);
}

template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
    State& s = st();
    const int n = (int) (block.x * block.y * block.z), warps = (n + 31) / 32;
    if (n <= 0 || n > 1024) { std::fprintf(stderr, "emu: bad block size %d\n", n); std::abort(); }
    const size_t stackBytes = 256 * 1024;
    if ((int) s.fibers.size() < n) {
        s.fibers.resize(n);
        s.stacks.resize(n);
        for (auto& st : s.stacks) st.resize(stackBytes);
    }
    s.grid = grid;
    s.block = block;
    s.body = [&]() { kernel(static_cast<P>(args)...); };
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                s.bid = dim3(bx, by, bz);
                s.alive = n;
                s.arrived = 0;
                s.warpAlive.assign(warps, 0);
                s.warpArrived.assign(warps, 0);
                s.warpGen.assign(warps, 0);
                s.exchange.assign((size_t) warps * 64, 0);
                for (int i = 0; i < n; i++) {
                    Fiber& f = s.fibers[i];
                    f.tid = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
                    f.lane = i & 31;
                    f.warp = i >> 5;
                    f.shuffles = 0;
                    f.done = false;
                    s.warpAlive[f.warp]++;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = s.stacks[i].data();
                    f.ctx.uc_stack.ss_size = stackBytes;
                    f.ctx.uc_link = &s.sched;
                    makecontext(&f.ctx, trampoline, 0);
                }
                int finished = 0;
                while (finished < n) {
                    long before = s.progress;
                    for (int i = 0; i < n; i++) {
                        Fiber& f = s.fibers[i];
                        if (f.done) continue;
                        s.cur = &f;
                        swapcontext(&s.sched, &f.ctx);
                        if (f.done) finished++;
                    }
                    if (finished < n && s.progress == before) {
                        std::fprintf(stderr, "emu: deadlock in block (%u,%u,%u): a barrier is not reached by all threads\n", bx, by, bz);
                        std::abort();
                    }
                }
            }
    s.cur = nullptr;
}

// Every lane of the calling warp publishes n words; returns the warp's table [32][n], readable until the matching
// release_words(). Used for the warp-collective matrix instructions below.
inline const uint32_t* publish_words(const uint32_t* mine, int n) {
    State& s = st();
    Fiber* f = s.cur;
    static uint32_t table[32 * 32 * 8];  // [warp][lane][word]: up to 1024 threads
    uint32_t* w = &table[(size_t) f->warp * 32 * 8];
    for (int i = 0; i < n; i++) w[f->lane * 8 + i] = mine[i];
    warpsync(f->warp);
    return w;
}
inline void release_words() { warpsync(st().cur->warp); }

inline float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
inline float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, d += A B, with the PTX ISA's fragment layouts
// (g = lane / 4, t = lane % 4): A 16x16 in a[0..3]: a0 (row g, cols 2t, 2t+1), a1 (row g+8, same cols),
// a2 (row g, cols 2t+8, 2t+9), a3 (row g+8, cols 2t+8, 2t+9); B 16x8 in b[0..1]: b0 (rows 2t, 2t+1, col g),
// b1 (rows 2t+8, 2t+9, col g); C/D 16x8: d0, d1 (row g, cols 2t, 2t+1), d2, d3 (row g+8, same cols).
inline void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    const uint32_t* w = publish_words(mine, 6);
    auto A = [&](int row, int col) {  // element of A from the lane that holds it
        int lane = (row % 8) * 4 + (col % 8) / 2, reg = (row >= 8) + 2 * (col >= 8);
        uint32_t v = w[lane * 8 + reg];
        return col % 2 ? bf16_hi(v) : bf16_lo(v);
    };
    auto B = [&](int row, int col) {
        int lane = col * 4 + (row % 8) / 2, reg = 4 + (row >= 8);
        uint32_t v = w[lane * 8 + reg];
        return row % 2 ? bf16_hi(v) : bf16_lo(v);
    };
    const int lane = st().cur->lane, g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; i++) {
        int row = g + 8 * (i / 2), col = 2 * t + i % 2;
        float acc = d[i];
        for (int k = 0; k < 16; k++) acc += A(row, k) * B(k, col);
        d[i] = acc;
    }
    release_words();
}

// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: lanes 8i..8i+7 give the addresses of rows 0..7 of 8x8 matrix i
// (8 b16 each); d[i] of lane L gets matrix i's elements (row 2(L%4), col L/4) and (row 2(L%4)+1, col L/4).
inline void ldmatrix_x4_trans(uint32_t d[4], const void* row) {
    uint64_t p = (uint64_t) (uintptr_t) row;
    uint32_t mine[2] = {(uint32_t) p, (uint32_t) (p >> 32)};
    const uint32_t* w = publish_words(mine, 2);
    const int lane = st().cur->lane;
    auto at = [&](int src, int col) {
        uint64_t a = (uint64_t) w[src * 8] | ((uint64_t) w[src * 8 + 1] << 32);
        return (uint32_t) reinterpret_cast<const unsigned short*>((uintptr_t) a)[col];
    };
    for (int i = 0; i < 4; i++) {
        int r0 = 8 * i + 2 * (lane % 4), col = lane / 4;
        d[i] = at(r0, col) | (at(r0 + 1, col) << 16);
    }
    release_words();
}

inline float half_to_float(unsigned short h) {
    unsigned sign = (unsigned) (h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        float v = std::ldexp((float) mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
    return __uint_as_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

inline unsigned short float_to_half(float f) {
    unsigned x = __float_as_uint(f), sign = (x >> 16) & 0x8000, ax = x & 0x7fffffff;
    if (ax > 0x7f800000u) return (unsigned short) (sign | 0x7e00);
    if (ax >= 0x477ff000u) return (unsigned short) (sign | 0x7c00);  // >= 65520 rounds to infinity
    if (ax < 0x38800000u) return (unsigned short) (sign | (unsigned) std::nearbyint(__uint_as_float(ax) * 16777216.0f));
    unsigned mant = ax & 0x7fffff, exp = (ax >> 23) - 127 + 15, h = (exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (unsigned short) (sign | h);
}

}  // namespace emu

#define threadIdx (emu::st().cur->tid)
#define blockIdx (emu::st().bid)
#define blockDim (emu::st().block)
#define gridDim (emu::st().grid)
#define __syncthreads() emu::syncthreads()
#define __shfl_xor_sync(mask, v, m) emu::shuffle((v), (int) (emu::st().cur->lane ^ (m)))
#define __shfl_down_sync(mask, v, d) emu::shuffle((v), (int) (emu::st().cur->lane + (d)))
#define __shfl_sync(mask, v, src) emu::shuffle((v), (int) (src))
