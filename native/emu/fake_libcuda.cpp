// A stand-in libcuda.so.1 for machines without a GPU: the driver API calls that CudaBackend makes, over host
// memory, with every kernel of native/ run by the CPU emulator (cuda_emu.h). JavaCPP's libjnicudart binds
// driver symbols lazily, so with this library first on LD_LIBRARY_PATH the whole Java CUDA backend runs here,
// and its @Tag("gpu") tests compare it with the CPU backend (scripts/gpu/emu_check.sh).
// It also checks what a real driver would not: every pointer argument of a launch must lie in a live allocation,
// copies must stay inside their allocations, and 256 guard bytes after each allocation must be intact after every
// launch (writes past the end). New allocations are filled with 0xff bytes (NaN), so reads of rows nobody wrote
// show up as NaN. Environment: SAC_FAKE_SMS (multiprocessors, default 16), SAC_FAKE_CC (default 90),
// SAC_FAKE_DEVICES (0: cuInit reports CUDA_ERROR_NO_DEVICE, as a driver without a GPU does).
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

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;

enum {
    OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, INVALID_DEVICE = 101, INVALID_IMAGE = 200,
    INVALID_HANDLE = 400, NOT_FOUND = 500, ILLEGAL_ADDRESS = 700, LAUNCH_FAILED = 719
};

namespace {

const size_t GUARD = 256;
const unsigned char GUARD_BYTE = 0xA5;
const size_t TOTAL = 16ull << 30;
std::map<uintptr_t, size_t> allocations;  // base -> bytes
size_t used = 0;
std::string current;  // kernel being launched, for messages

int env_int(const char* name, int dflt) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : dflt;
}

// The allocation holding [p, p + n), or allocations.end().
std::map<uintptr_t, size_t>::iterator holder(uintptr_t p, size_t n) {
    auto it = allocations.upper_bound(p);
    if (it == allocations.begin()) return allocations.end();
    --it;
    return p >= it->first && p + n <= it->first + it->second ? it : allocations.end();
}

bool guards_intact() {
    for (auto& a : allocations) {
        const unsigned char* g = reinterpret_cast<const unsigned char*>(a.first + a.second);
        for (size_t i = 0; i < GUARD; i++)
            if (g[i] != GUARD_BYTE) {
                std::fprintf(stderr, "fake libcuda: %s wrote past the end of a %zu-byte allocation\n", current.c_str(), a.second);
                return false;
            }
    }
    return true;
}

template <class T> bool pointer_ok(void* slot, size_t index) {
    if constexpr (std::is_pointer_v<T>) {
        T p = *static_cast<T*>(slot);
        if (p != nullptr && holder(reinterpret_cast<uintptr_t>(p), 1) == allocations.end()) {
            std::fprintf(stderr, "fake libcuda: %s argument %zu (%p) is not device memory\n", current.c_str(), index, (const void*) p);
            return false;
        }
    }
    return true;
}

template <class... P, size_t... I>
CUresult invoke(void (*k)(P...), dim3 g, dim3 b, void** params, std::index_sequence<I...>) {
    bool ok = true;
    ((ok = ok && pointer_ok<P>(params[I], I)), ...);
    if (!ok) return INVALID_VALUE;
    emu::launch(k, g, b, *static_cast<P*>(params[I])...);
    return guards_intact() ? OK : ILLEGAL_ADDRESS;
}

template <class... P> CUresult call(void (*k)(P...), dim3 g, dim3 b, void** params) {
    return invoke(k, g, b, params, std::index_sequence_for<P...>{});
}

typedef std::function<CUresult(dim3, dim3, void**)> Launcher;
#define K(name) {#name, [](dim3 g, dim3 b, void** p) { return call(name, g, b, p); }}
std::map<std::string, Launcher> kernels = {
    K(sac_rmsnorm_f32), K(sac_rope_f32), K(sac_swiglu_f32), K(sac_add_f32), K(sac_add_bias_f32),
    K(sac_embed_f32), K(sac_embed_bf16), K(sac_embed_f16), K(sac_embed_q8_0), K(sac_f32_to_bf16),
    K(sac_f32_to_f16), K(sac_anchor_gather), K(sac_role_add_f32), K(sac_argmax_f32),
    K(sac_attn_f32_d32), K(sac_attn_f32_d64), K(sac_attn_f32_d128), K(sac_attn_f32_d256),
    K(sac_attn_bf16_d32), K(sac_attn_bf16_d64), K(sac_attn_bf16_d128), K(sac_attn_bf16_d256),
    K(sac_attn_mma_bf16_d64), K(sac_attn_mma_bf16_d128), K(sac_attn_combine), K(sac_gemm_f32), K(sac_gemm_bf16), K(sac_gemm_f16), K(sac_gemm_q8_0),
    K(sac_gemv_f32), K(sac_gemv_bf16), K(sac_gemv_f16), K(sac_gemv_q8_0),
};
#undef K

int context_token, module_token;

struct Error {
    int code;
    const char *name, *text;
};
const Error errors[] = {
    {OK, "CUDA_SUCCESS", "no error"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
};

}  // namespace

extern "C" {

CUresult cuInit(unsigned) { return env_int("SAC_FAKE_DEVICES", 1) > 0 ? OK : 100; }  // 100: CUDA_ERROR_NO_DEVICE
CUresult cuDriverGetVersion(int* v) { *v = 13000; return OK; }
CUresult cuDeviceGetCount(int* n) { *n = 1; return OK; }
CUresult cuDeviceGet(CUdevice* d, int ordinal) { if (ordinal != 0) return INVALID_DEVICE; *d = 0; return OK; }

CUresult cuDeviceGetName(char* name, int len, CUdevice) {
    std::snprintf(name, (size_t) len, "CPU emulator (sac4j fake libcuda)");
    return OK;
}

CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice) {
    switch (attr) {
        case 16: *v = env_int("SAC_FAKE_SMS", 16); return OK;            // MULTIPROCESSOR_COUNT
        case 75: *v = env_int("SAC_FAKE_CC", 90) / 10; return OK;        // COMPUTE_CAPABILITY_MAJOR
        case 76: *v = env_int("SAC_FAKE_CC", 90) % 10; return OK;        // COMPUTE_CAPABILITY_MINOR
        case 1: *v = 1024; return OK;                                    // MAX_THREADS_PER_BLOCK
        default: *v = 0; return OK;
    }
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) { *bytes = TOTAL; return OK; }
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) { *c = &context_token; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return OK; }
CUresult cuCtxSetCurrent(CUcontext c) { return c == &context_token ? OK : INVALID_HANDLE; }
CUresult cuCtxSynchronize() { return OK; }
CUresult cuCtxSynchronize_v2(CUcontext) { return OK; }

CUresult cuModuleLoadData(CUmodule* m, const void* image) {
    uint32_t magic;
    std::memcpy(&magic, image, 4);
    if (magic != 0xBA55ED50u) return INVALID_IMAGE;  // the real fatbin must be there, though its code is not used
    *m = &module_token;
    return OK;
}
CUresult cuModuleUnload(CUmodule m) { return m == &module_token ? OK : INVALID_HANDLE; }

CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
    if (m != &module_token) return INVALID_HANDLE;
    auto it = kernels.find(name);
    if (it == kernels.end()) return NOT_FOUND;
    *f = &*it;
    return OK;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, CUstream, void** params, void** extra) {
    if (f == nullptr || params == nullptr || extra != nullptr) return INVALID_VALUE;
    if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || bx * by * bz == 0 || bx * by * bz > 1024 || shared > 0)
        return INVALID_VALUE;
    auto* k = static_cast<std::pair<const std::string, Launcher>*>(f);
    current = k->first;
    return k->second(dim3(gx, gy, gz), dim3(bx, by, bz), params);
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    if (bytes == 0) return INVALID_VALUE;
    if (used + bytes > TOTAL) return OUT_OF_MEMORY;
    void* m = std::aligned_alloc(256, (bytes + GUARD + 255) / 256 * 256);
    if (m == nullptr) return OUT_OF_MEMORY;
    std::memset(m, 0xff, bytes);
    std::memset(static_cast<char*>(m) + bytes, GUARD_BYTE, GUARD);
    allocations[(uintptr_t) m] = bytes;
    used += bytes;
    *p = (CUdeviceptr) (uintptr_t) m;
    return OK;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
    auto it = allocations.find((uintptr_t) p);
    if (it == allocations.end()) {
        std::fprintf(stderr, "fake libcuda: cuMemFree of %#llx, which is not an allocation\n", p);
        return INVALID_VALUE;
    }
    current = "a kernel";
    bool ok = guards_intact();
    used -= it->second;
    std::free((void*) it->first);
    allocations.erase(it);
    return ok ? OK : ILLEGAL_ADDRESS;
}

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    *free = TOTAL - used;
    *total = TOTAL;
    return OK;
}

static CUresult copy(void* dst, const void* src, size_t n, bool dst_dev, bool src_dev, const char* what) {
    if (n == 0) return OK;
    if ((dst_dev && holder((uintptr_t) dst, n) == allocations.end()) || (src_dev && holder((uintptr_t) src, n) == allocations.end())) {
        std::fprintf(stderr, "fake libcuda: %s of %zu bytes outside device memory (dst %p, src %p)\n", what, n, dst, src);
        return INVALID_VALUE;
    }
    std::memmove(dst, src, n);
    return OK;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void* h, size_t n) { return copy((void*) d, h, n, true, false, "cuMemcpyHtoD"); }
CUresult cuMemcpyDtoH_v2(void* h, CUdeviceptr d, size_t n) { return copy(h, (const void*) d, n, false, true, "cuMemcpyDtoH"); }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { return copy((void*) d, (const void*) s, n, true, true, "cuMemcpyDtoD"); }

CUresult cuGetErrorName(CUresult e, const char** s) {
    for (const Error& x : errors)
        if (x.code == e) { *s = x.name; return OK; }
    *s = nullptr;
    return INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult e, const char** s) {
    for (const Error& x : errors)
        if (x.code == e) { *s = x.text; return OK; }
    *s = nullptr;
    return INVALID_VALUE;
}

}  // extern "C"
