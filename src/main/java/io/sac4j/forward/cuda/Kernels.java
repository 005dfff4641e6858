package io.sac4j.forward.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.cudart.cuCtxSynchronize;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;

/**
 * The kernels of native/*.cu: the fatbin loaded once, each function looked up by its stable extern "C" name,
 * every launch checked. Arguments are written into 8-byte slots of one native buffer that cuLaunchKernel reads
 * through an array of pointers (one per parameter, in order); their Java types must match the kernel's C types
 * (ptr/i64 for pointers and long long, i32 for int, f32 for float). Not thread-safe: CudaBackend serialises calls.
 */
final class Kernels implements AutoCloseable {
    // Launch shapes: the #defines of native/*.cuh (CudaAbiTest checks that they agree).
    static final int RMSNORM_THREADS = 256, ROPE_THREADS = 128, ELEMWISE_THREADS = 256, EMBED_THREADS = 256,
            GATHER_THREADS = 128, ROLE_THREADS = 256, ARGMAX_THREADS = 512, ATTN_QV = 64, ATTN_THREADS = 256,
            ATTN_COMBINE_THREADS = 128, ATTN_MMA_QV = 64, ATTN_MMA_THREADS = 128, ATTN_MMA_BK = 64, GEMM_TILE = 64,
            GEMM_THREADS = 256, GEMV_ROWS = 8, GEMV_THREADS = 256;

    /** Every kernel this class launches (CudaAbiTest checks each is declared in native/ and present in the fatbin). */
    static final List<String> NAMES = List.of("sac_rmsnorm_f32", "sac_rope_f32", "sac_swiglu_f32", "sac_add_f32",
            "sac_add_bias_f32", "sac_embed_f32", "sac_embed_bf16", "sac_embed_f16", "sac_embed_q8_0",
            "sac_f32_to_bf16", "sac_f32_to_f16", "sac_anchor_gather", "sac_role_add_f32", "sac_argmax_f32",
            "sac_attn_f32_d32", "sac_attn_f32_d64", "sac_attn_f32_d128", "sac_attn_f32_d256",
            "sac_attn_bf16_d32", "sac_attn_bf16_d64", "sac_attn_bf16_d128", "sac_attn_bf16_d256",
            "sac_attn_mma_bf16_d64", "sac_attn_mma_bf16_d128", "sac_attn_combine", "sac_gemm_f32", "sac_gemm_bf16", "sac_gemm_f16", "sac_gemm_q8_0",
            "sac_gemv_f32", "sac_gemv_bf16", "sac_gemv_f16", "sac_gemv_q8_0");

    private static final int MAX_ARGS = 24;
    private final CUmod_st module = new CUmod_st();
    private final Map<String, CUfunc_st> functions = new HashMap<>();
    private final BytePointer args = new BytePointer(8L * MAX_ARGS);
    private final PointerPointer<Pointer> argv = new PointerPointer<>(MAX_ARGS);
    private final Launch launch = new Launch();
    private final boolean sync;
    private final Profile profile;
    private boolean loaded;

    /**
     * @param sync synchronise after every launch (system property sac.cuda.sync=true), so that an error in a
     *             kernel is reported with that kernel's name instead of at the next copy
     * @param profile times every launch (sac.cuda.profile=true), or null
     */
    Kernels(byte[] fatbin, boolean sync, Profile profile) {
        this.sync = sync;
        this.profile = profile;
        try (BytePointer image = new BytePointer(fatbin)) {
            Cu.check(cuModuleLoadData(module, image), "cuModuleLoadData(sac4j_kernels.fatbin)");
            loaded = true;
        }
        for (int i = 0; i < MAX_ARGS; i++) argv.put(i, new Cu.Addr(args.address() + 8L * i, 8));
    }

    private CUfunc_st function(String name) {
        CUfunc_st f = functions.get(name);
        if (f == null) {
            f = new CUfunc_st();
            Cu.check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
            functions.put(name, f);
        }
        return f;
    }

    /** Starts a launch of {@code kernel}: set grid, block and arguments, then {@link Launch#run()}. */
    Launch launch(String kernel) {
        return launch.reset(kernel);
    }

    final class Launch {
        private String name;
        private int n, gx, gy, gz, bx;

        private Launch reset(String kernel) {
            name = kernel;
            n = 0;
            gx = gy = gz = bx = 1;
            return this;
        }

        Launch grid(long x) {
            return grid(x, 1, 1);
        }

        Launch grid(long x, long y, long z) {
            if (x < 1 || x > Integer.MAX_VALUE || y < 1 || y > 65535 || z < 1 || z > 65535)
                throw new IllegalArgumentException(name + ": grid " + x + "x" + y + "x" + z + " is out of range");
            gx = (int) x;
            gy = (int) y;
            gz = (int) z;
            return this;
        }

        Launch block(int threads) {
            bx = threads;
            return this;
        }

        private int slot() {
            if (n == MAX_ARGS) throw new IllegalStateException(name + ": too many arguments");
            return 8 * n++;
        }

        Launch ptr(long devicePointer) {
            args.putLong(slot(), devicePointer);
            return this;
        }

        Launch i64(long v) {
            args.putLong(slot(), v);
            return this;
        }

        Launch i32(int v) {
            args.putInt(slot(), v);
            return this;
        }

        Launch f32(float v) {
            args.putFloat(slot(), v);
            return this;
        }

        void run() {
            if (profile != null) profile.start(name);
            Cu.check(cuLaunchKernel(function(name), gx, gy, gz, bx, 1, 1, 0, (CUstream_st) null, argv, (PointerPointer<?>) null),
                    "cuLaunchKernel(" + name + ")");
            if (sync) Cu.check(cuCtxSynchronize(), name);
            if (profile != null) profile.stop();
        }
    }

    @Override
    public void close() {
        if (loaded) {
            loaded = false;
            Cu.check(cuModuleUnload(module), "cuModuleUnload");
        }
        argv.close();
        args.close();
    }
}
