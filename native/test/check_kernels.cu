// Every kernel against a double-precision C++ reference, ggml test-backend-ops style: normalised mean squared
// error per case, outputs poisoned with NaN first so unwritten elements fail.
//   CPU, no GPU (scripts/gpu/emu_check.sh):  g++ -DSAC_EMULATE -x c++ ... : kernels run under emu/cuda_emu.h
//   GPU (scripts/gpu/run_all.sh):            nvcc -x cu ...               : real launches (compute-sanitizer too)
// Usage: check_kernels [--quick] [filter]   --quick: the small sizes (the emulator is slow); filter: a case prefix.
// The references run on all cores when built with OpenMP (the CMake targets do).
#include "../rmsnorm.cuh"
#include "../rope.cuh"
#include "../swiglu.cuh"
#include "../add.cuh"
#include "../embed.cuh"
#include "../convert.cuh"
#include "../anchor_gather.cuh"
#include "../role_add.cuh"
#include "../argmax.cuh"
#include "../attention.cuh"
#include "../attention_mma.cuh"
#include "../matmul.cuh"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#ifdef SAC_EMULATE
#define LAUNCH(kernel, grid, block, ...) emu::launch(kernel, grid, block, __VA_ARGS__)
#define SYNC()
template <class T> static T* dev_alloc(size_t n) {
    return static_cast<T*>(std::aligned_alloc(256, ((n * sizeof(T) + 255) / 256) * 256 + 256));
}
template <class T> static void dev_free(T* p) { std::free(p); }
static void to_dev(void* d, const void* h, size_t bytes) { std::memcpy(d, h, bytes); }
static void to_host(void* h, const void* d, size_t bytes) { std::memcpy(h, d, bytes); }
#else
#include <cuda_runtime.h>
#define CHECK(call)                                                                                  \
    do {                                                                                             \
        cudaError_t e_ = (call);                                                                     \
        if (e_ != cudaSuccess) {                                                                     \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(2);                                                                            \
        }                                                                                            \
    } while (0)
#define LAUNCH(kernel, grid, block, ...)          \
    do {                                          \
        (kernel)<<<grid, block>>>(__VA_ARGS__);   \
        CHECK(cudaGetLastError());                \
    } while (0)
#define SYNC() CHECK(cudaDeviceSynchronize())
template <class T> static T* dev_alloc(size_t n) {
    void* p = nullptr;
    CHECK(cudaMalloc(&p, n * sizeof(T) + 256));
    return static_cast<T*>(p);
}
template <class T> static void dev_free(T* p) { CHECK(cudaFree(p)); }
static void to_dev(void* d, const void* h, size_t bytes) { CHECK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice)); }
static void to_host(void* h, const void* d, size_t bytes) { CHECK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost)); }
#endif

// A device copy of a host vector, freed at scope exit.
template <class T> struct Dev {
    T* p;
    size_t n;
    explicit Dev(const std::vector<T>& h) : p(dev_alloc<T>(h.size() ? h.size() : 1)), n(h.size()) { to_dev(p, h.data(), n * sizeof(T)); }
    explicit Dev(size_t n) : p(dev_alloc<T>(n ? n : 1)), n(n) {}
    ~Dev() { dev_free(p); }
    Dev(const Dev&) = delete;
    std::vector<T> get() const {
        SYNC();
        std::vector<T> h(n);
        to_host(h.data(), p, n * sizeof(T));
        return h;
    }
    void poison() {
        std::vector<T> h(n);
        std::memset(h.data(), 0xff, n * sizeof(T));  // NaN for floats, -1 for ints
        to_dev(p, h.data(), n * sizeof(T));
    }
};

static std::mt19937_64 rng(1234);
static std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}
static int randint(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi - 1)(rng); }

static uint16_t bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t) (u >> 16);
}
static float from_bf16(uint16_t b) {
    uint32_t u = (uint32_t) b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static float from_f16(uint16_t h);
// f16 round to nearest even, found by search over the representable values rather than by bit arithmetic (the
// emulator's float_to_half uses that): subnormals and the overflow to infinity included
static uint16_t f16(float f) {
    uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    double a = std::fabs((double) f);
    if (std::isnan(f)) return sign | 0x7e00;
    if (a >= 65520.0) return sign | 0x7c00;  // past the largest finite value (65504) by half its step or more
    uint16_t lo = 0, hi = 0x7bff;            // the largest h with from_f16(h) <= a
    while (lo < hi) {
        uint16_t mid = (uint16_t) ((lo + hi + 1) / 2);
        if (from_f16(mid) <= a) lo = mid; else hi = (uint16_t) (mid - 1);
    }
    if (lo == 0x7bff) return sign | lo;
    double down = a - from_f16(lo), up = from_f16((uint16_t) (lo + 1)) - a;
    return sign | (up < down || (up == down && (lo & 1)) ? lo + 1 : lo);
}
static float from_f16(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) return (sign ? -1.0f : 1.0f) * std::ldexp((float) m, -24);
    uint32_t u = sign | ((e - 15 + 127) << 23) | (m << 13);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

static int failures = 0, cases = 0;
static bool quick = false;
static std::string filter;

static bool selected(const std::string& name) { return filter.empty() || name.compare(0, filter.size(), filter) == 0; }

// Normalised mean squared error against the reference; NaN (an unwritten or broken element) always fails.
static void expect(const std::string& name, const std::vector<float>& got, const std::vector<double>& ref, double tol) {
    cases++;
    double err = 0, norm = 0;
    size_t bad = got.size();
    for (size_t i = 0; i < got.size(); i++) {
        if (!std::isfinite(got[i]) && std::isfinite(ref[i])) {
            bad = i;
            break;
        }
        double d = got[i] - ref[i];
        err += d * d;
        norm += ref[i] * ref[i];
    }
    double nmse = norm > 0 ? err / norm : err;
    bool ok = bad == got.size() && got.size() == ref.size() && nmse <= tol;
    if (!ok) failures++;
    if (!ok || !quick) {
        if (bad != got.size()) std::printf("%-4s %-60s element %zu is %g (ref %g)\n", ok ? "ok" : "FAIL", name.c_str(), bad, got[bad], ref[bad]);
        else std::printf("%-4s %-60s nmse %.3g (tol %.0g)\n", ok ? "ok" : "FAIL", name.c_str(), nmse, tol);
    }
}

static void expect_ints(const std::string& name, const std::vector<int>& got, const std::vector<int>& ref) {
    cases++;
    bool ok = got == ref;
    if (!ok) failures++;
    if (!ok || !quick) std::printf("%-4s %s\n", ok ? "ok" : "FAIL", name.c_str());
}

static unsigned blocks_for(long long n, int threads) { return (unsigned) std::min<long long>((n + threads - 1) / threads, 65535LL * 8); }

// ---------------------------------------------------------------- element-wise and row ops

static void test_rmsnorm() {
    for (int rows : {1, 7, 509}) for (int cols : {64, 100, 4097}) {
        std::string name = "rmsnorm rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
        if (!selected(name) || (quick && rows * cols > 40000)) continue;
        auto x = randn((size_t) rows * cols, 2.0f), g = randn(cols);
        Dev<float> dx(x), dg(g), dout((size_t) rows * cols);
        dout.poison();
        LAUNCH(sac_rmsnorm_f32, dim3(rows), dim3(SAC_RMSNORM_THREADS), dout.p, dx.p, dg.p, cols, 1e-5f);
        std::vector<double> ref(x.size());
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int c = 0; c < cols; c++) ss += (double) x[r * cols + c] * x[r * cols + c];
            double s = 1.0 / std::sqrt(ss / cols + 1e-5);
            for (int c = 0; c < cols; c++) ref[r * cols + c] = x[r * cols + c] * s * g[c];
        }
        expect(name, dout.get(), ref, 1e-10);
    }
}

static void test_rope() {
    for (int halves : {0, 1}) for (int hd : {16, 64, 128}) for (int rows : {1, 7, 33}) {
        int heads = 3, stride = heads * hd + 8;  // a row wider than the rotated heads: only heads * hd change
        std::string name = std::string("rope ") + (halves ? "halves" : "adjacent") + " hd=" + std::to_string(hd) + " rows=" + std::to_string(rows);
        if (!selected(name)) continue;
        int half = hd / 2;
        auto x = randn((size_t) rows * stride);
        std::vector<float> cs(rows * half), sn(rows * half);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < half; i++) {
                double a = (r * 37 + 5) * std::pow(10000.0, -2.0 * i / hd);
                cs[r * half + i] = (float) std::cos(a);
                sn[r * half + i] = (float) std::sin(a);
            }
        Dev<float> dx(x), dc(cs), ds(sn);
        LAUNCH(sac_rope_f32, dim3(rows), dim3(SAC_ROPE_THREADS), dx.p, dc.p, ds.p, heads, hd, stride, halves);
        std::vector<double> ref(x.begin(), x.end());
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++) {
                    int o = r * stride + h * hd, a = halves ? o + i : o + 2 * i, b = halves ? a + half : a + 1;
                    double c = cs[r * half + i], s = sn[r * half + i], x0 = x[a], x1 = x[b];
                    ref[a] = x0 * c - x1 * s;
                    ref[b] = x0 * s + x1 * c;
                }
        expect(name, dx.get(), ref, 1e-12);
    }
}

static void test_elementwise() {
    for (long long n : {1LL, 7LL, 4097LL, 1000003LL}) {
        if (quick && n > 5000) continue;
        std::string sn = " n=" + std::to_string(n);
        auto g = randn(n, 3.0f), u = randn(n);
        if (selected("swiglu" + sn)) {
            Dev<float> dg(g), du(u);
            LAUNCH(sac_swiglu_f32, dim3(blocks_for(n, SAC_ELEMWISE_THREADS)), dim3(SAC_ELEMWISE_THREADS), dg.p, du.p, n);
            std::vector<double> ref(n);
            for (long long i = 0; i < n; i++) ref[i] = g[i] / (1 + std::exp(-(double) g[i])) * u[i];
            expect("swiglu" + sn, dg.get(), ref, 1e-12);
        }
        if (selected("add" + sn)) {
            Dev<float> dx(g), dy(u);
            LAUNCH(sac_add_f32, dim3(blocks_for(n, SAC_ELEMWISE_THREADS)), dim3(SAC_ELEMWISE_THREADS), dx.p, dy.p, n);
            std::vector<double> ref(n);
            for (long long i = 0; i < n; i++) ref[i] = (double) g[i] + u[i];
            expect("add" + sn, dx.get(), ref, 1e-14);
        }
        if (selected("convert" + sn)) {
            Dev<float> src(g);
            Dev<uint16_t> db(n), dh(n);
            LAUNCH(sac_f32_to_bf16, dim3(blocks_for(n, SAC_ELEMWISE_THREADS)), dim3(SAC_ELEMWISE_THREADS), db.p, src.p, n);
            LAUNCH(sac_f32_to_f16, dim3(blocks_for(n, SAC_ELEMWISE_THREADS)), dim3(SAC_ELEMWISE_THREADS), dh.p, src.p, n);
            auto b = db.get(), h = dh.get();
            std::vector<int> gb(n), rb(n), gh(n), rh(n);
            for (long long i = 0; i < n; i++) {
                gb[i] = b[i];
                rb[i] = bf16(g[i]);
                gh[i] = h[i];
                rh[i] = f16(g[i]);
            }
            expect_ints("convert bf16 (round to nearest even)" + sn, gb, rb);
            expect_ints("convert f16 (round to nearest even)" + sn, gh, rh);
        }
    }
    for (int rows : {1, 7, 509}) for (int cols : {3, 64, 97}) {
        std::string name = "add_bias rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
        if (!selected(name)) continue;
        auto x = randn((size_t) rows * cols), b = randn(cols);
        Dev<float> dx(x), db(b);
        LAUNCH(sac_add_bias_f32, dim3(blocks_for((long long) rows * cols, SAC_ELEMWISE_THREADS)), dim3(SAC_ELEMWISE_THREADS), dx.p, db.p, rows, cols);
        std::vector<double> ref(x.size());
        for (size_t i = 0; i < x.size(); i++) ref[i] = (double) x[i] + b[i % cols];
        expect(name, dx.get(), ref, 1e-14);
    }
}

// A weight matrix [rows][cols] in one of the four types: raw bytes, and the exact f32 values they stand for.
struct Weights {
    std::vector<uint8_t> bytes;
    std::vector<float> values;
};

static Weights make_weights(int type, int rows, int cols) {
    Weights w;
    auto v = randn((size_t) rows * cols, 0.5f);
    w.values.resize(v.size());
    if (type == SAC_W_F32) {
        w.bytes.resize(v.size() * 4);
        std::memcpy(w.bytes.data(), v.data(), w.bytes.size());
        w.values = v;
    } else if (type == SAC_W_BF16 || type == SAC_W_F16) {
        w.bytes.resize(v.size() * 2);
        for (size_t i = 0; i < v.size(); i++) {
            uint16_t h = type == SAC_W_BF16 ? bf16(v[i]) : f16(v[i]);
            std::memcpy(&w.bytes[2 * i], &h, 2);
            w.values[i] = type == SAC_W_BF16 ? from_bf16(h) : from_f16(h);
        }
    } else {
        int blocks = cols / 32;
        w.bytes.resize((size_t) rows * blocks * 34);
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < blocks; b++) {
                const float* src = &v[(size_t) r * cols + b * 32];
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(src[j]));
                uint16_t d = f16(amax / 127.0f);
                float df = from_f16(d);
                uint8_t* blk = &w.bytes[((size_t) r * blocks + b) * 34];
                std::memcpy(blk, &d, 2);
                for (int j = 0; j < 32; j++) {
                    int q = df > 0 ? (int) std::lround(src[j] / df) : 0;
                    q = std::max(-127, std::min(127, q));
                    blk[2 + j] = (uint8_t) (int8_t) q;
                    w.values[(size_t) r * cols + b * 32 + j] = df * (float) q;
                }
            }
    }
    return w;
}

static const char* type_name(int t) { return t == SAC_W_F32 ? "f32" : t == SAC_W_BF16 ? "bf16" : t == SAC_W_F16 ? "f16" : "q8_0"; }

static void test_embed() {
    typedef void (*Embed)(float*, const unsigned char*, const int*, int);
    const Embed kernels[] = {sac_embed_f32, sac_embed_f16, sac_embed_bf16, sac_embed_q8_0};
    for (int type : {SAC_W_F32, SAC_W_F16, SAC_W_BF16, SAC_W_Q8_0}) for (int n : {1, 7, 509}) {
        int vocab = 300, cols = type == SAC_W_Q8_0 ? 96 : 100;
        std::string name = std::string("embed ") + type_name(type) + " tokens=" + std::to_string(n);
        if (!selected(name)) continue;
        Weights w = make_weights(type, vocab, cols);
        std::vector<int> tokens(n);
        for (auto& t : tokens) t = randint(0, vocab);
        tokens[0] = vocab - 1;
        Dev<uint8_t> dt(w.bytes);
        Dev<int> dtok(tokens);
        Dev<float> dout((size_t) n * cols);
        dout.poison();
        LAUNCH(kernels[type], dim3(n), dim3(SAC_EMBED_THREADS), dout.p, dt.p, dtok.p, cols);
        std::vector<double> ref((size_t) n * cols);
        for (int t = 0; t < n; t++)
            for (int c = 0; c < cols; c++) ref[(size_t) t * cols + c] = w.values[(size_t) tokens[t] * cols + c];
        expect(name, dout.get(), ref, 0);
    }
}

static void test_gather_role_argmax() {
    // gather: a prefix cache of p rows and an own segment, 3 layers (6 planes), f32 rows and bf16-sized rows
    for (int row_bytes : {4 * 64, 2 * 6, 4 * 3 * 16}) for (int p : {0, 13}) {
        std::string name = "anchor_gather row_bytes=" + std::to_string(row_bytes) + " prefix=" + std::to_string(p);
        if (!selected(name)) continue;
        int planes = 6, cap0 = p + 3, own = 40, cap1 = own + 5, words = row_bytes / 4;
        std::vector<float> s0((size_t) planes * cap0 * words), s1((size_t) planes * cap1 * words);
        for (size_t i = 0; i < s0.size(); i++) s0[i] = (float) i;
        for (size_t i = 0; i < s1.size(); i++) s1[i] = -(float) i;
        std::vector<int> rows;
        for (int r = 1; r < p + own; r += 3) rows.push_back(r);
        Dev<float> d0(s0), d1(s1), dst((size_t) planes * rows.size() * words);
        Dev<int> drows(rows);
        dst.poison();
        LAUNCH(sac_anchor_gather, dim3((unsigned) rows.size(), planes), dim3(SAC_GATHER_THREADS), (unsigned char*) dst.p,
               (const unsigned char*) d0.p, (long long) cap0 * row_bytes, p, (const unsigned char*) d1.p,
               (long long) cap1 * row_bytes, (const int*) drows.p, (int) rows.size(), row_bytes);
        std::vector<double> ref(dst.n);
        for (int pl = 0; pl < planes; pl++)
            for (size_t i = 0; i < rows.size(); i++)
                for (int w = 0; w < words; w++) {
                    int r = rows[i];
                    ref[((size_t) pl * rows.size() + i) * words + w] =
                        r < p ? s0[((size_t) pl * cap0 + r) * words + w] : s1[((size_t) pl * cap1 + r - p) * words + w];
                }
        expect(name, dst.get(), ref, 0);
    }
    if (selected("role_add")) {
        int rows = 1020, cols = 64, roles = 102;
        auto x = randn((size_t) rows * cols), rt = randn((size_t) roles * cols);
        std::vector<int> at, id;
        for (int m = 0, r = 2; r < rows; r += 5, m++) {  // r = 5 anchors of two 510-row chunks, roles restart per chunk
            at.push_back(r);
            id.push_back(m % roles);
        }
        Dev<float> dx(x), dr(rt);
        Dev<int> dat(at), did(id);
        LAUNCH(sac_role_add_f32, dim3((unsigned) at.size()), dim3(SAC_ROLE_THREADS), dx.p, (const float*) dr.p, (const int*) dat.p, (const int*) did.p, cols);
        std::vector<double> ref(x.begin(), x.end());
        for (size_t i = 0; i < at.size(); i++)
            for (int c = 0; c < cols; c++) ref[(size_t) at[i] * cols + c] += rt[(size_t) id[i] * cols + c];
        expect("role_add rows=1020 anchors=204", dx.get(), ref, 1e-14);
    }
    for (int cols : {1, 7, 512, 32001}) {
        std::string name = "argmax cols=" + std::to_string(cols);
        if (!selected(name) || (quick && cols > 1000)) continue;
        int rows = 5;
        auto x = randn((size_t) rows * cols);
        if (cols > 7) {
            x[1 * cols + 3] = 50;  // a tie: the first index wins
            x[1 * cols + cols - 1] = 50;
            x[2 * cols + 0] = NAN;  // NaN is never the maximum
            x[2 * cols + cols / 2] = 60;
        }
        for (int c = 0; c < cols; c++) x[4 * cols + c] = -INFINITY;  // all equal: index 0
        Dev<float> dx(x);
        Dev<int> dout(rows);
        dout.poison();
        LAUNCH(sac_argmax_f32, dim3(rows), dim3(SAC_ARGMAX_THREADS), dout.p, (const float*) dx.p, cols);
        std::vector<int> ref(rows);
        for (int r = 0; r < rows; r++) {
            int best = 0;
            float bv = -INFINITY;
            for (int c = 0; c < cols; c++) {
                float v = std::isnan(x[r * cols + c]) ? -INFINITY : x[r * cols + c];
                if (v > bv) bv = v, best = c;
            }
            ref[r] = best;
        }
        expect_ints(name, dout.get(), ref);
    }
}

// ---------------------------------------------------------------- matmul

static void test_matmul() {
    typedef void (*Mm)(float*, const float*, const unsigned char*, int, int, int);
    const Mm gemm[] = {sac_gemm_f32, sac_gemm_f16, sac_gemm_bf16, sac_gemm_q8_0};
    const Mm gemv[] = {sac_gemv_f32, sac_gemv_f16, sac_gemv_bf16, sac_gemv_q8_0};
    for (int type : {SAC_W_F32, SAC_W_F16, SAC_W_BF16, SAC_W_Q8_0})
        for (int M : {1, 3, 8, 9, 130}) for (int N : {1, 67, 256}) for (int K : {64, 100, 4096}) {
            if (type == SAC_W_Q8_0 && K % 32 != 0) continue;
            if (quick && ((long long) M * N * K > 2000000 || (M > 8 && N > 67))) continue;
            bool v = M <= SAC_GEMV_ROWS;
            std::string name = std::string(v ? "gemv " : "gemm ") + type_name(type) + " M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K);
            if (!selected(name)) continue;
            Weights w = make_weights(type, N, K);
            auto x = randn((size_t) M * K);
            Dev<uint8_t> dw(w.bytes);
            Dev<float> dx(x), dout((size_t) M * N);
            dout.poison();
            if (v) LAUNCH(gemv[type], dim3((N + SAC_GEMV_THREADS / 32 - 1) / (SAC_GEMV_THREADS / 32)), dim3(SAC_GEMV_THREADS), dout.p, (const float*) dx.p, (const unsigned char*) dw.p, M, N, K);
            else LAUNCH(gemm[type], dim3((N + SAC_GEMM_TILE - 1) / SAC_GEMM_TILE, (M + SAC_GEMM_TILE - 1) / SAC_GEMM_TILE), dim3(SAC_GEMM_THREADS), dout.p, (const float*) dx.p, (const unsigned char*) dw.p, M, N, K);
            std::vector<double> ref((size_t) M * N);
#pragma omp parallel for
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    double s = 0;
                    for (int k = 0; k < K; k++) s += (double) x[(size_t) m * K + k] * w.values[(size_t) n * K + k];
                    ref[(size_t) m * N + n] = s;
                }
            expect(name, dout.get(), ref, 1e-9);  // f32 sums over K up to 4096
        }
}

// ---------------------------------------------------------------- attention

struct AttnCase {
    int rows, hd, heads, kv_heads, prefix, own_before, kind, block, splits;
    bool bf16;
    bool mma = false;  // the tensor-core kernel (bf16 K/V, head dim 64 or 128)
};

static int mask_lo(int kind, int start, int bs, int r) { return kind == SAC_MASK_BLOCKS ? start + (r / bs) * bs : 0; }
static int mask_hi(int kind, int start, int rows, int bs, int r) {
    return kind == SAC_MASK_BLOCKS ? start + std::min((r / bs + 1) * bs, rows) : start + r + 1;
}

typedef void (*AttnF32)(float*, const float*, const float*, const float*, int, const float*, const float*, int, int, int, int, int, int, int, float, int, float*, float*);
typedef void (*AttnBf16)(float*, const float*, const uint16_t*, const uint16_t*, int, const uint16_t*, const uint16_t*, int, int, int, int, int, int, int, float, int, float*, float*);

static void run_attention(const AttnCase& c) {
    static const char* kinds[] = {"causal", "blocks", "prefix"};
    std::string name = std::string("attention ") + (c.mma ? "mma " : "") + (c.bf16 ? "bf16" : "f32") + " " + kinds[c.kind] +
                       (c.kind == SAC_MASK_BLOCKS ? "(" + std::to_string(c.block) + ")" : "") + " rows=" + std::to_string(c.rows) +
                       " hd=" + std::to_string(c.hd) + " heads=" + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) +
                       " prefix=" + std::to_string(c.prefix) + "+" + std::to_string(c.own_before) + " splits=" + std::to_string(c.splits);
    if (!selected(name)) return;
    const int kv = c.kv_heads * c.hd, qd = c.heads * c.hd, start = c.prefix + c.own_before, total = start + c.rows;
    const int group = c.heads / c.kv_heads, cap1 = c.own_before + c.rows + 3;
    auto q = randn((size_t) c.rows * qd);
    // keys with a spread of magnitudes so the softmax is neither flat nor one-hot
    auto k = randn((size_t) total * kv, 1.5f), v = randn((size_t) total * kv);
    if (c.bf16)
        for (auto* a : {&k, &v})
            for (auto& x : *a) x = from_bf16(bf16(x));
    // cache rows [0, prefix) in segment 0, the rest in segment 1 (own storage of capacity cap1)
    std::vector<float> k0((size_t) std::max(c.prefix, 1) * kv), v0(k0.size()), k1((size_t) cap1 * kv, 0.0f), v1(k1.size(), 0.0f);
    for (int r = 0; r < total; r++)
        for (int i = 0; i < kv; i++) {
            float kk = k[(size_t) r * kv + i], vv = v[(size_t) r * kv + i];
            if (r < c.prefix) k0[(size_t) r * kv + i] = kk, v0[(size_t) r * kv + i] = vv;
            else k1[(size_t) (r - c.prefix) * kv + i] = kk, v1[(size_t) (r - c.prefix) * kv + i] = vv;
        }
    Dev<float> dq(q), dout((size_t) c.rows * qd);
    dout.poison();
    const int bs = c.kind == SAC_MASK_BLOCKS ? std::min(c.block, c.rows) : 1;
    const int qv = c.mma ? SAC_ATTN_MMA_QV : SAC_ATTN_QV;
    const int nqb = (c.rows * group + qv - 1) / qv;
    // split length: the longest block key range over splits, in whole tiles (as CudaBackend computes it)
    int longest = 0;
    for (int b = 0; b < nqb; b++) {
        int f = b * qv, l = std::min(f + qv, c.rows * group) - 1;
        longest = std::max(longest, mask_hi(c.kind, start, c.rows, bs, l / group) - mask_lo(c.kind, start, bs, f / group));
    }
    int split_len = c.splits == 1 ? 0x7fffffff : ((longest + c.splits - 1) / c.splits + 63) / 64 * 64;
    Dev<float> po((size_t) c.splits * c.rows * qd), pml((size_t) c.splits * c.rows * c.heads * 2);
    float* part_o = c.splits > 1 ? po.p : nullptr;
    float* part_ml = c.splits > 1 ? pml.p : nullptr;
    const float scale = 1.0f / std::sqrt((float) c.hd);
    const dim3 grid(nqb, c.kv_heads, c.splits), block(c.mma ? SAC_ATTN_MMA_THREADS : SAC_ATTN_THREADS);
    const int hdv = c.hd == 64 ? 1 : c.hd == 128 ? 2 : c.hd <= 32 ? 0 : 3;
    float* direct = c.splits > 1 ? nullptr : dout.p;
    if (c.bf16) {
        std::vector<uint16_t> b0(k0.size()), c0(v0.size()), b1(k1.size()), c1(v1.size());
        for (size_t i = 0; i < k0.size(); i++) b0[i] = bf16(k0[i]), c0[i] = bf16(v0[i]);
        for (size_t i = 0; i < k1.size(); i++) b1[i] = bf16(k1[i]), c1[i] = bf16(v1[i]);
        Dev<uint16_t> dk0(b0), dv0(c0), dk1(b1), dv1(c1);
        const AttnBf16 ks[] = {sac_attn_bf16_d32, sac_attn_bf16_d64, sac_attn_bf16_d128, sac_attn_bf16_d256};
        const AttnBf16 tc[] = {nullptr, sac_attn_mma_bf16_d64, sac_attn_mma_bf16_d128, nullptr};
        LAUNCH(c.mma ? tc[hdv] : ks[hdv], grid, block, direct, (const float*) dq.p, (const uint16_t*) dk0.p, (const uint16_t*) dv0.p, c.prefix,
               (const uint16_t*) dk1.p, (const uint16_t*) dv1.p, c.rows, c.heads, c.kv_heads, c.hd, start, c.kind, bs, scale,
               split_len, part_o, part_ml);
        SYNC();
    } else {
        Dev<float> dk0(k0), dv0(v0), dk1(k1), dv1(v1);
        const AttnF32 ks[] = {sac_attn_f32_d32, sac_attn_f32_d64, sac_attn_f32_d128, sac_attn_f32_d256};
        LAUNCH(ks[hdv], grid, block, direct, (const float*) dq.p, (const float*) dk0.p, (const float*) dv0.p, c.prefix,
               (const float*) dk1.p, (const float*) dv1.p, c.rows, c.heads, c.kv_heads, c.hd, start, c.kind, bs, scale,
               split_len, part_o, part_ml);
        SYNC();
    }
    if (c.splits > 1)
        LAUNCH(sac_attn_combine, dim3(c.rows * c.heads), dim3(SAC_ATTN_COMBINE_THREADS), dout.p, (const float*) po.p,
               (const float*) pml.p, c.splits, c.rows, c.heads, c.hd);
    std::vector<float> got = dout.get();
    std::vector<double> ref((size_t) c.rows * qd);
#pragma omp parallel for schedule(dynamic, 8)
    for (int r = 0; r < c.rows; r++) {
        std::vector<double> sc(total);
        for (int h = 0; h < c.heads; h++) {
            int lo = mask_lo(c.kind, start, bs, r), hi = mask_hi(c.kind, start, c.rows, bs, r), kvo = (h / group) * c.hd;
            double mx = -1e300, sum = 0;
            for (int j = lo; j < hi; j++) {
                double d = 0;
                for (int i = 0; i < c.hd; i++) d += (double) q[(size_t) r * qd + h * c.hd + i] * k[(size_t) j * kv + kvo + i];
                sc[j] = d / std::sqrt((double) c.hd);
                mx = std::max(mx, sc[j]);
            }
            for (int j = lo; j < hi; j++) sum += sc[j] = std::exp(sc[j] - mx);
            for (int i = 0; i < c.hd; i++) {
                double o = 0;
                for (int j = lo; j < hi; j++) o += sc[j] * v[(size_t) j * kv + kvo + i];
                ref[(size_t) r * qd + h * c.hd + i] = o / sum;
            }
        }
    }
    // the tensor-core kernel rounds q and the softmax weights to bf16
    expect(name, got, ref, c.mma ? 1e-4 : 1e-10);
}

static void test_attention() {
    std::vector<AttnCase> cs;
    const int M_CAUSAL = SAC_MASK_CAUSAL, M_BLOCKS = SAC_MASK_BLOCKS, M_PREFIX = SAC_MASK_PREFIX;
    if (quick) {
        // the emulator runs ~1e6 fiber switches a second: small but edge-rich shapes
        for (int hd : {16, 64, 128, 80})
            for (int g : {1, 2, 4, 8}) {
                if (hd == 80 && g > 2) continue;
                cs.push_back({7, hd, 2 * g, 2, 0, 0, M_CAUSAL, 0, 1, false});
                cs.push_back({33, hd, g, 1, 20, 3, M_PREFIX, 0, 1, hd == 64});
                cs.push_back({70, hd, g, 1, 0, 0, M_BLOCKS, 33, 1, false});
            }
        cs.push_back({1, 64, 4, 1, 150, 2, M_PREFIX, 0, 3, false});  // decode over a prefix, split-K
        cs.push_back({1, 128, 8, 2, 70, 0, M_PREFIX, 0, 4, true});
        cs.push_back({5, 64, 2, 2, 0, 90, M_CAUSAL, 0, 2, false});   // continuation without prefix, split-K
        cs.push_back({65, 16, 2, 1, 0, 0, M_BLOCKS, 510, 1, false}); // one block larger than the rows
        for (int hd : {64, 128})
            for (int g : {1, 4}) {
                cs.push_back({37, hd, 2 * g, 2, 0, 0, M_CAUSAL, 0, 1, true, true});
                cs.push_back({70, hd, g, 1, 0, 0, M_BLOCKS, 33, 1, true, true});
                cs.push_back({9, hd, g, 1, 70, 2, M_PREFIX, 0, 1, true, true});
            }
        cs.push_back({1, 128, 8, 2, 300, 0, M_PREFIX, 0, 3, true, true});
    } else {
        for (int rows : {1, 7, 509, 510, 511, 4097})
            for (int hd : {64, 128})
                for (int g : {1, 2, 4, 8}) {
                    bool big = rows == 4097;
                    if (big && g != 4) continue;
                    cs.push_back({rows, hd, 2 * g, 2, 0, 0, M_CAUSAL, 0, 1, false});
                    cs.push_back({rows, hd, g, 1, 0, 0, M_BLOCKS, 510, 1, hd == 128});
                    if (!big) cs.push_back({rows, hd, g, 1, 300, 5, M_PREFIX, 0, 1, g == 2});
                }
        for (int hd : {16, 32, 80, 96, 256}) {
            cs.push_back({129, hd, 4, 2, 0, 0, M_CAUSAL, 0, 1, false});
            cs.push_back({129, hd, 4, 1, 17, 0, M_PREFIX, 0, 1, true});
            cs.push_back({129, hd, 2, 2, 0, 0, M_BLOCKS, 5, 1, false});
        }
        for (int rows : {1, 7, 509, 510, 511, 4097})
            for (int hd : {64, 128})
                for (int g : {1, 2, 4, 8}) {
                    if (rows == 4097 && g != 4) continue;
                    cs.push_back({rows, hd, 2 * g, 2, 0, 0, M_CAUSAL, 0, 1, true, true});
                    cs.push_back({rows, hd, g, 1, 0, 0, M_BLOCKS, 510, 1, true, true});
                    if (rows != 4097) cs.push_back({rows, hd, g, 1, 300, 5, M_PREFIX, 0, 1, true, true});
                }
        for (int splits : {2, 7, 32}) cs.push_back({1, 128, 8, 2, 4000, 0, M_PREFIX, 0, splits, true, true});
        for (int splits : {2, 7, 32}) {
            cs.push_back({1, 128, 8, 2, 4000, 0, M_PREFIX, 0, splits, false});
            cs.push_back({1, 64, 4, 1, 9000, 1, M_PREFIX, 0, splits, true});
            cs.push_back({3, 128, 32, 8, 0, 2000, M_CAUSAL, 0, splits, false});
        }
    }
    for (const auto& c : cs) run_attention(c);
}

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        else filter = argv[i];
    }
    test_rmsnorm();
    test_rope();
    test_elementwise();
    test_embed();
    test_gather_role_argmax();
    test_matmul();
    test_attention();
    std::printf("%d of %d kernel cases passed%s\n", cases - failures, cases, quick ? " (quick sizes)" : "");
    return failures == 0 ? 0 : 1;
}
