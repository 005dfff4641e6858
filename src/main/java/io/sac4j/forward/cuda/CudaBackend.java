package io.sac4j.forward.cuda;

import io.sac4j.SacException;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Buf;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Mask;
import io.sac4j.forward.Rope;
import io.sac4j.load.DType;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Loader;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_NO_DEVICE;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16F;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR;
import static org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR;
import static org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT;
import static org.bytedeco.cuda.global.cudart.cuCtxSetCurrent;
import static org.bytedeco.cuda.global.cudart.cuDeviceGet;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetAttribute;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetCount;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetName;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRelease;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRetain;
import static org.bytedeco.cuda.global.cudart.cuInit;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoD;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoH;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoD;

/**
 * The CUDA backend: the kernels of native/ (one fatbin in the jar) launched through the driver API of the JavaCPP
 * presets, everything on the device's primary context and the legacy default stream (so every copy and launch is
 * ordered after the ones before it). Weights are uploaded once per {@link Tensor} object; activations
 * ({@link CudaBuf}) and KV caches ({@link CudaKvCache}) live on the device. Matrix products use cuBLAS where it
 * loads (see {@link CuBlas}), else the built-in kernels.
 *
 * <pre>
 * per layer (Llama.run):   x ──rmsnorm──► xb ──gemm──► q,k,v ──rope──► q,k ─┐
 *                                                          k,v ──copy──► cache planes of the layer
 *                          attention kernel(q, prefix planes, own planes) ──► att ──gemm──► xb ──add──► x
 *                          x ──rmsnorm──► xb ──gemm──► gate, up ──swiglu──► gate ──gemm──► xb ──add──► x
 * </pre>
 * Calls are serialised (synchronized); one backend serves one thread at a time.
 */
public final class CudaBackend implements Backend {
    /**
     * @param device      CUDA device ordinal (system property sac.cuda.device)
     * @param bf16Cache   keep K/V in bf16 instead of f32 (sac.cuda.kv=bf16): half the memory, ~3 significant digits
     * @param tensorCores with a bf16 cache and head dim 64 or 128, attend on the tensor cores (attention_mma.cu;
     *                    q and the softmax weights in bf16 too); sac.cuda.mma=false keeps the f32 SIMT kernel
     * @param cublas      use cuBLAS for f32/bf16/f16 matrix products when it loads (sac.cuda.cublas=false: never)
     * @param sync        synchronise after every launch so errors name their kernel (sac.cuda.sync=true; slower)
     */
    public record Options(int device, boolean bf16Cache, boolean tensorCores, boolean cublas, boolean sync) {
        public static Options fromSystemProperties() {
            String kv = System.getProperty("sac.cuda.kv", "f32");
            if (!kv.equals("f32") && !kv.equals("bf16"))
                throw new SacException("sac.cuda.kv", "KV cache type '" + kv + "' is not f32 or bf16");
            int device;
            try {
                device = Integer.parseInt(System.getProperty("sac.cuda.device", "0"));
            } catch (NumberFormatException e) {
                throw new SacException("sac.cuda.device", "'" + System.getProperty("sac.cuda.device") + "' is not a device number");
            }
            return new Options(device, kv.equals("bf16"), !"false".equals(System.getProperty("sac.cuda.mma")),
                    !"false".equals(System.getProperty("sac.cuda.cublas")), Boolean.getBoolean("sac.cuda.sync"));
        }
    }

    private final Options options;
    private final int device;
    private final CUctx_st ctx = new CUctx_st();
    private final String deviceName;
    private final int sms, ccMajor, ccMinor;
    final DeviceMemory memory;
    private final Kernels kernels;
    private final CuBlas cublas;
    private final String cublasNote;
    private final Map<Tensor, Long> weights = new IdentityHashMap<>(), weightsF32 = new IdentityHashMap<>();
    private final Scratch ints, floats, partO, partMl, ropeCos, ropeSin;
    private Rope.Table ropeTable;
    private boolean closed;
    /** sac.cuda.profile=true: per-op device times, printed on stderr by close() (see Profile). */
    private final Profile profile = Boolean.getBoolean("sac.cuda.profile") ? new Profile() : null;

    /** Opens device 0 (or the one the system properties name). @throws SacException "CUDA unavailable: reason" */
    public static CudaBackend open() {
        return open(Options.fromSystemProperties());
    }

    /**
     * Opens a device, or throws a {@link SacException} whose message is "CUDA unavailable: " and the real reason
     * (no driver, no kernels in the jar, no device, a GPU the kernels were not built for, ...). Never loads any
     * native code when the driver is missing.
     */
    public static CudaBackend open(Options options) {
        String reason = CudaProbe.staticReason();
        if (reason != null) throw unavailable(reason, null);
        byte[] fatbin;
        try {
            fatbin = CudaProbe.fatbin();
        } catch (IOException e) {
            throw unavailable("cannot read the kernels from the jar: " + e.getMessage(), e);
        }
        if (fatbin == null) throw unavailable(CudaProbe.NO_FATBIN, null);
        try {
            Loader.load(cudart.class);
        } catch (Throwable t) {
            throw unavailable(CudaProbe.explainLoadFailure(t), t);
        }
        try {
            return new CudaBackend(options, fatbin);
        } catch (SacException e) {
            throw e.getMessage().startsWith("CUDA unavailable:") ? e : unavailable(e.getMessage(), e);
        } catch (Throwable t) {
            throw unavailable(t.toString(), t);
        }
    }

    static SacException unavailable(String reason, Throwable cause) {
        return new SacException(null, "CUDA unavailable: " + reason, cause);
    }

    private CudaBackend(Options options, byte[] fatbin) {
        this.options = options;
        this.device = options.device();
        int rc = cuInit(0);
        if (rc == CUDA_ERROR_NO_DEVICE) throw unavailable(CudaProbe.NO_DEVICE, null);
        if (rc != 0) throw unavailable("cuInit failed: " + Cu.describe(rc), null);
        int[] v = new int[1];
        Cu.check(cuDeviceGetCount(v), "cuDeviceGetCount");
        if (v[0] == 0) throw unavailable(CudaProbe.NO_DEVICE, null);
        if (device < 0 || device >= v[0]) throw unavailable("CUDA device " + device + " does not exist (" + v[0] + " found)", null);
        int[] dev = new int[1];
        Cu.check(cuDeviceGet(dev, device), "cuDeviceGet");
        byte[] nameBytes = new byte[256];
        Cu.check(cuDeviceGetName(nameBytes, nameBytes.length, dev[0]), "cuDeviceGetName");
        int len = 0;
        while (len < nameBytes.length && nameBytes[len] != 0) len++;
        deviceName = new String(nameBytes, 0, len, StandardCharsets.UTF_8);
        sms = attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev[0]);
        ccMajor = attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev[0]);
        ccMinor = attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev[0]);
        List<Fatbin.Entry> entries = Fatbin.entries(fatbin, "sac4j_kernels.fatbin");
        if (!Fatbin.runsOn(entries, ccMajor, ccMinor))
            throw unavailable("the kernels were built for " + entries + ", not for " + deviceName + " (sm_" + ccMajor + ccMinor + ")", null);

        Cu.check(cuDevicePrimaryCtxRetain(ctx, dev[0]), "cuDevicePrimaryCtxRetain");
        DeviceMemory mem = null;
        Kernels ks = null;
        try {
            Cu.check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            mem = new DeviceMemory();
            ks = new Kernels(fatbin, options.sync(), profile);
        } catch (RuntimeException e) {
            if (ks != null) ks.close();
            if (mem != null) mem.close();
            cuDevicePrimaryCtxRelease(dev[0]);
            throw unavailable(e.getMessage(), e);
        }
        memory = mem;
        kernels = ks;
        CuBlas blas = null;
        String note = "disabled";
        if (options.cublas()) {
            try {
                blas = new CuBlas(device);
                note = "cuBLAS";
            } catch (Throwable t) {
                note = "cuBLAS unavailable: " + CudaProbe.explainLoadFailure(t).replace("cannot load the CUDA bindings", "cannot load cuBLAS");
            }
        }
        cublas = blas;
        cublasNote = note;
        ints = new Scratch();
        floats = new Scratch();
        partO = new Scratch();
        partMl = new Scratch();
        ropeCos = new Scratch();
        ropeSin = new Scratch();
    }

    private static int attribute(int attr, int dev) {
        int[] v = new int[1];
        Cu.check(cuDeviceGetAttribute(v, attr, dev), "cuDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    @Override
    public String name() {
        return "cuda (" + deviceName + ", sm_" + ccMajor + ccMinor + ", " + sms + " SMs; KV "
                + (options.bf16Cache() ? "bf16" + (options.tensorCores() ? ", tensor-core attention" : "") : "f32")
                + "; matmul: " + (cublas != null ? "cuBLAS" : "built-in kernels, " + cublasNote) + ")";
    }

    /** The device's multiprocessor count (split-K decisions). */
    public int multiprocessors() {
        return sms;
    }

    /** Device memory this backend holds now (buffers, caches, weights, scratch, pooled blocks). */
    public synchronized long deviceBytesHeld() {
        enter();
        return memory.bytesHeld();
    }

    private void enter() {
        if (closed) throw new IllegalStateException("the CUDA backend is closed");
        Cu.check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    }

    private CudaBuf b(Buf buf) {
        if (buf instanceof CudaBuf c && c.backend == this) return c;
        throw new IllegalArgumentException("buffer " + buf + " does not belong to this CUDA backend");
    }

    private CudaKvCache c(KvCache cache) {
        if (cache instanceof CudaKvCache c && c.backend == this) return c;
        throw new IllegalArgumentException("KV cache " + cache + " does not belong to this CUDA backend");
    }

    // ---------------------------------------------------------------- host <-> device

    /** Copies {@code n} floats of {@code src} from {@code off} to device address {@code dst}. */
    private static void upload(long dst, float[] src, int off, int n) {
        if (n == 0) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * n, 64);
            MemorySegment.copy(src, off, s, ValueLayout.JAVA_FLOAT, 0, n);
            Cu.check(cuMemcpyHtoD(dst, new Cu.Addr(s.address(), s.byteSize()), s.byteSize()), "cuMemcpyHtoD");
        }
    }

    private static void upload(long dst, int[] src) {
        if (src.length == 0) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * src.length, 64);
            MemorySegment.copy(src, 0, s, ValueLayout.JAVA_INT, 0, src.length);
            Cu.check(cuMemcpyHtoD(dst, new Cu.Addr(s.address(), s.byteSize()), s.byteSize()), "cuMemcpyHtoD");
        }
    }

    private static void download(float[] dst, int off, long src, int n) {
        if (n == 0) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * n, 64);
            Cu.check(cuMemcpyDtoH(new Cu.Addr(s.address(), s.byteSize()), src, s.byteSize()), "cuMemcpyDtoH");
            MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, dst, off, n);
        }
    }

    private static void downloadBf16(float[] dst, long src, int n) {
        if (n == 0) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(2L * n, 64);
            Cu.check(cuMemcpyDtoH(new Cu.Addr(s.address(), s.byteSize()), src, s.byteSize()), "cuMemcpyDtoH");
            for (int i = 0; i < n; i++) dst[i] = Tensor.bf16(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
        }
    }

    /** A weight's raw bytes on the device, uploaded on first use. */
    private long weight(Tensor t) {
        Long p = weights.get(t);
        if (p == null) {
            long bytes = t.type().bytes(t.elements());
            if (t.data().byteSize() < bytes)
                throw new SacException(t.name(), "tensor holds " + t.data().byteSize() + " bytes, its shape needs " + bytes);
            p = memory.allocKept(bytes);
            MemorySegment data = t.data().asSlice(0, bytes);
            if (data.isNative()) {
                Cu.check(cuMemcpyHtoD(p, new Cu.Addr(data.address(), bytes), bytes), "cuMemcpyHtoD(" + t.name() + ")");
            } else {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment s = a.allocate(bytes, 64).copyFrom(data);
                    Cu.check(cuMemcpyHtoD(p, new Cu.Addr(s.address(), bytes), bytes), "cuMemcpyHtoD(" + t.name() + ")");
                }
            }
            weights.put(t, p);
        }
        return p;
    }

    /** A small weight (norm gain, bias, role vectors) widened to f32 on the device, uploaded on first use. */
    private long weightF32(Tensor t) {
        Long p = weightsF32.get(t);
        if (p == null) {
            float[] f = t.toFloats();
            p = memory.allocKept(4L * f.length);
            upload(p, f, 0, f.length);
            weightsF32.put(t, p);
        }
        return p;
    }

    /** A device buffer kept between calls, grown on demand. */
    private final class Scratch {
        long ptr, bytes;

        long ensure(long need) {
            if (need > bytes) {
                if (ptr != 0) memory.free(ptr);
                ptr = 0;
                long size = Math.max(need, bytes * 2);
                ptr = memory.allocKept(size);
                bytes = size;
            }
            return ptr;
        }
    }

    private long ints(int[] values) {
        long p = ints.ensure(4L * Math.max(values.length, 1));
        upload(p, values);
        return p;
    }

    // ---------------------------------------------------------------- Backend

    @Override
    public synchronized Buf alloc(int rows, int cols) {
        enter();
        return new CudaBuf(this, rows, cols);
    }

    @Override
    public synchronized void write(Buf dst, float[] src) {
        enter();
        CudaBuf d = b(dst);
        int n = d.rows() * d.cols();
        if (src.length < n) throw new IllegalArgumentException(src.length + " floats for a " + d.rows() + " x " + d.cols() + " buffer");
        upload(d.ptr, src, 0, n);
    }

    @Override
    public synchronized void readRow(Buf src, int row, float[] dst) {
        enter();
        CudaBuf s = b(src);
        if (row < 0 || row >= s.rows()) throw new IndexOutOfBoundsException("row " + row + " of " + s.rows());
        download(dst, 0, s.ptr + 4L * row * s.cols(), s.cols());
    }

    @Override
    public synchronized void embed(Buf out, Tensor table, int[] tokens) {
        enter();
        CudaBuf o = b(out);
        for (int t : tokens)
            if (t < 0 || t >= table.rows())
                throw new IllegalArgumentException("token id " + t + " is outside the vocabulary (0.." + (table.rows() - 1) + ")");
        if (o.cols() != table.cols() || o.rows() < tokens.length)
            throw new IllegalArgumentException("embed: " + tokens.length + " tokens of " + table + " into " + o.rows() + " x " + o.cols());
        if (tokens.length == 0) return;
        kernels.launch("sac_embed_" + suffix(table.type())).grid(tokens.length).block(Kernels.EMBED_THREADS)
                .ptr(o.ptr).ptr(weight(table)).ptr(ints(tokens)).i32(table.cols()).run();
    }

    private static String suffix(DType t) {
        return switch (t) {
            case F32 -> "f32";
            case BF16 -> "bf16";
            case F16 -> "f16";
            case Q8_0 -> "q8_0";
        };
    }

    @Override
    public synchronized void rmsNorm(Buf out, Buf x, Tensor gain, float eps) {
        enter();
        CudaBuf o = b(out), xb = b(x);
        if (gain.elements() != xb.cols() || o.cols() != xb.cols() || o.rows() < xb.rows())
            throw new IllegalArgumentException("rmsNorm: x " + xb.rows() + " x " + xb.cols() + ", gain " + gain + ", out " + o.rows() + " x " + o.cols());
        if (xb.rows() == 0) return;
        kernels.launch("sac_rmsnorm_f32").grid(xb.rows()).block(Kernels.RMSNORM_THREADS)
                .ptr(o.ptr).ptr(xb.ptr).ptr(weightF32(gain)).i32(xb.cols()).f32(eps).run();
    }

    @Override
    public synchronized void matmul(Buf out, Buf x, Tensor w) {
        enter();
        CudaBuf o = b(out), xb = b(x);
        if (xb.cols() != w.cols() || o.cols() != w.rows() || o.rows() != xb.rows())
            throw new IllegalArgumentException("matmul shapes: x " + xb.rows() + "x" + xb.cols() + ", w " + w + ", out " + o.rows() + "x" + o.cols());
        int m = xb.rows(), n = w.rows(), k = w.cols();
        if (m == 0 || n == 0) return;
        long wp = weight(w);
        if (m <= Kernels.GEMV_ROWS) {
            // decode: a weight-bandwidth-bound product, one warp per output column reading its row once
            int perBlock = Kernels.GEMV_THREADS / 32;
            kernels.launch("sac_gemv_" + suffix(w.type())).grid((n + perBlock - 1) / perBlock).block(Kernels.GEMV_THREADS)
                    .ptr(o.ptr).ptr(xb.ptr).ptr(wp).i32(m).i32(n).i32(k).run();
        } else if (cublas != null && w.type() != DType.Q8_0) {
            if (w.type() == DType.F32) {
                gemm(o.ptr, xb.ptr, w, wp, CUDA_R_32F, m);
            } else {
                long elems = (long) m * k;
                long conv = floats.ensure(2 * elems);
                kernels.launch(w.type() == DType.BF16 ? "sac_f32_to_bf16" : "sac_f32_to_f16").grid(elementwiseBlocks(elems))
                        .block(Kernels.ELEMWISE_THREADS).ptr(conv).ptr(xb.ptr).i64(elems).run();
                gemm(o.ptr, conv, w, wp, w.type() == DType.BF16 ? CUDA_R_16BF : CUDA_R_16F, m);
            }
        } else {
            int t = Kernels.GEMM_TILE;
            kernels.launch("sac_gemm_" + suffix(w.type())).grid((n + t - 1) / t, (m + t - 1) / t, 1).block(Kernels.GEMM_THREADS)
                    .ptr(o.ptr).ptr(xb.ptr).ptr(wp).i32(m).i32(n).i32(k).run();
        }
    }

    /** cuBLAS out[m][w.rows] = x[m][w.cols] · w^T, with x already of {@code type}; profiled per shape. */
    private void gemm(long out, long x, Tensor w, long wp, int type, int m) {
        if (profile != null) profile.start("cublasGemmEx " + w.type() + " m=" + m + " n=" + w.rows() + " k=" + w.cols());
        cublas.gemm(out, x, wp, type, m, w.rows(), w.cols());
        if (profile != null) profile.stop();
    }

    /** Blocks for a grid-stride element-wise kernel: enough to fill the GPU, never more than the work. */
    private long elementwiseBlocks(long n) {
        return Math.max(1, Math.min((n + Kernels.ELEMWISE_THREADS - 1) / Kernels.ELEMWISE_THREADS, 32L * sms));
    }

    @Override
    public synchronized void addBias(Buf x, Tensor bias) {
        enter();
        CudaBuf xb = b(x);
        if (bias.elements() != xb.cols()) throw new IllegalArgumentException("bias " + bias + " for rows of " + xb.cols());
        long n = (long) xb.rows() * xb.cols();
        if (n == 0) return;
        kernels.launch("sac_add_bias_f32").grid(elementwiseBlocks(n)).block(Kernels.ELEMWISE_THREADS)
                .ptr(xb.ptr).ptr(weightF32(bias)).i32(xb.rows()).i32(xb.cols()).run();
    }

    @Override
    public synchronized void rope(Buf x, int heads, Rope.Table table) {
        enter();
        CudaBuf xb = b(x);
        if (table.rows() != xb.rows() || (long) heads * table.headDim() > xb.cols())
            throw new IllegalArgumentException("rope: " + heads + " heads of " + table.headDim() + " over " + table.rows()
                    + " rows, buffer " + xb.rows() + " x " + xb.cols());
        if (xb.rows() == 0) return;
        if (table != ropeTable) {
            // one table per forward call, shared by every layer and by q and k: upload it once
            int n = table.cos().length;
            upload(ropeCos.ensure(4L * n), table.cos(), 0, n);
            upload(ropeSin.ensure(4L * n), table.sin(), 0, n);
            ropeTable = table;
        }
        kernels.launch("sac_rope_f32").grid(xb.rows()).block(Kernels.ROPE_THREADS).ptr(xb.ptr).ptr(ropeCos.ptr).ptr(ropeSin.ptr)
                .i32(heads).i32(table.headDim()).i32(xb.cols()).i32(table.style() == ModelConfig.RopeStyle.HALVES ? 1 : 0).run();
    }

    @Override
    public synchronized KvCache newCache(ModelConfig config, int capacity, KvCache prefix) {
        enter();
        CudaKvCache p = null;
        if (prefix != null) {
            if (!(prefix instanceof CudaKvCache c && c.backend == this && c.kvDim == config.kvDim() && c.layers == config.nLayers()))
                throw new IllegalArgumentException("prefix cache does not fit this model or backend");
            // the kernels read at most two segments: a prefix that has its own prefix is copied into one
            p = c.prefixCache() == null ? c : gatherRange(c, c.length(), config);
        }
        return new CudaKvCache(this, config.nLayers(), config.kvDim(), options.bf16Cache(), capacity, p);
    }

    private CudaKvCache gatherRange(CudaKvCache c, int n, ModelConfig config) {
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) rows[i] = i;
        return (CudaKvCache) gather(c, rows, config);
    }

    @Override
    public KvCache cacheOf(float[][] k, float[][] v, ModelConfig config) {
        int layers = config.nLayers(), kvDim = config.kvDim();
        if (k.length != layers || v.length != layers)
            throw new IllegalArgumentException("cache rows for " + k.length + " layers, model has " + layers);
        int rows = k[0].length / kvDim;
        for (int l = 0; l < layers; l++)
            if (k[l].length != rows * kvDim || v[l].length != rows * kvDim || k[0].length % kvDim != 0)
                throw new IllegalArgumentException("layer " + l + ": " + k[l].length + " keys and " + v[l].length
                        + " values are not " + rows + " rows of " + kvDim);
        CudaKvCache c = newFullCache(layers, rows, kvDim);
        for (int l = 0; l < layers; l++)
            for (int kv = 0; kv < 2; kv++) putPlane(c, l, kv, kv == 0 ? k[l] : v[l]);
        return c;
    }

    /** Reads each plane into one host array and uploads it before reading the next (outside the lock: file IO). */
    @Override
    public KvCache load(int layers, int rows, int kvHeads, int headDim, PlaneReader reader) throws IOException {
        int kvDim = Math.multiplyExact(kvHeads, headDim);
        CudaKvCache c = newFullCache(layers, rows, kvDim);
        float[] plane = new float[Math.multiplyExact(rows, kvDim)];
        for (int l = 0; l < layers; l++)
            for (int kv = 0; kv < 2; kv++) {
                reader.read(l, kv, plane);
                putPlane(c, l, kv, plane);
            }
        return c; // a reader that fails leaves c unreachable: its device memory is freed with it
    }

    /** A cache that holds {@code rows} rows once its planes are put (no prefix, no spare capacity). */
    private synchronized CudaKvCache newFullCache(int layers, int rows, int kvDim) {
        enter();
        CudaKvCache c = new CudaKvCache(this, layers, kvDim, options.bf16Cache(), rows, null);
        c.advance(rows);
        return c;
    }

    /** Copies host rows (all of the cache's) into the K (kv = 0) or V plane of a layer, converting for a bf16 cache. */
    private synchronized void putPlane(CudaKvCache c, int layer, int kv, float[] src) {
        enter();
        int n = c.ownCapacity() * c.kvDim;
        if (c.bf16) {
            long staged = floats.ensure(4L * n);
            upload(staged, src, 0, n);
            kernels.launch("sac_f32_to_bf16").grid(elementwiseBlocks(n)).block(Kernels.ELEMWISE_THREADS)
                    .ptr(c.plane(layer, kv)).ptr(staged).i64(n).run();
        } else {
            upload(c.plane(layer, kv), src, 0, n);
        }
    }

    @Override
    public synchronized KvCache gather(KvCache src, int[] rows, ModelConfig config) {
        enter();
        CudaKvCache s = c(src);
        for (int r : rows)
            if (r < 0 || r >= s.length()) throw new IllegalArgumentException("row " + r + " is not in the cache (length " + s.length() + ")");
        CudaKvCache out = new CudaKvCache(this, s.layers, s.kvDim, s.bf16, rows.length, null);
        if (rows.length > 0) {
            CudaKvCache p = s.prefixCache();
            kernels.launch("sac_anchor_gather").grid(rows.length, 2L * s.layers, 1).block(Kernels.GATHER_THREADS)
                    .ptr(out.base).ptr(p == null ? 0 : p.base).i64(p == null ? 0 : p.planeBytes()).i32(s.prefixLength())
                    .ptr(s.base).i64(s.planeBytes()).ptr(ints(rows)).i32(rows.length).i32(s.rowBytes()).run();
        }
        out.advance(rows.length);
        return out;
    }

    /** Device-to-device copies, one per plane and part: the joined anchors never visit the host. */
    @Override
    public synchronized KvCache concat(List<KvCache> parts, ModelConfig config) {
        enter();
        int total = 0;
        for (KvCache part : parts) {
            CudaKvCache p = c(part);
            if (p.prefixLength() != 0)
                throw new IllegalArgumentException("concat: a part has a prefix of " + p.prefixLength() + " rows");
            if (p.layers != config.nLayers() || p.kvDim != config.kvDim() || p.bf16 != options.bf16Cache())
                throw new IllegalArgumentException("concat: a part holds " + p.layers + " layers of " + p.kvDim + (p.bf16 ? " bf16" : " f32")
                        + " values, not this model's " + config.nLayers() + " of " + config.kvDim());
            total = Math.addExact(total, p.length());
        }
        CudaKvCache out = new CudaKvCache(this, config.nLayers(), config.kvDim(), options.bf16Cache(), total, null);
        long at = 0;
        for (KvCache part : parts) {
            CudaKvCache p = c(part);
            long bytes = (long) p.length() * p.rowBytes();
            if (bytes == 0) continue;
            for (int l = 0; l < p.layers; l++)
                for (int kv = 0; kv < 2; kv++)
                    Cu.check(cuMemcpyDtoD(out.plane(l, kv) + at, p.plane(l, kv), bytes), "cuMemcpyDtoD");
            at += bytes;
        }
        out.advance(total);
        return out;
    }

    synchronized float[][] ownRows(CudaKvCache c, int layer) {
        enter();
        int n = (c.length() - c.prefixLength()) * c.kvDim;
        float[] k = new float[n], v = new float[n];
        if (c.bf16) {
            downloadBf16(k, c.plane(layer, 0), n);
            downloadBf16(v, c.plane(layer, 1), n);
        } else {
            download(k, 0, c.plane(layer, 0), n);
            download(v, 0, c.plane(layer, 1), n);
        }
        return new float[][]{k, v};
    }

    @Override
    public synchronized void attention(Buf out, Buf q, Buf k, Buf v, KvCache cache, int layer, Mask mask, ModelConfig cfg) {
        enter();
        CudaBuf o = b(out), qb = b(q), kb = b(k), vb = b(v);
        int rows = qb.rows();
        checkAttention(o, qb, kb, vb, rows, cfg);
        attend(o.ptr, qb.ptr, kb.ptr, vb.ptr, rows, c(cache), layer, mask, cfg);
    }

    /** Each row's attention with the kernels pointed at the row itself: no 1-row copies (see Backend). */
    @Override
    public synchronized void attendEach(Buf out, Buf q, Buf k, Buf v, KvCache[] caches, int layer, Mask mask, ModelConfig cfg) {
        enter();
        CudaBuf o = b(out), qb = b(q), kb = b(k), vb = b(v);
        int rows = qb.rows();
        checkAttention(o, qb, kb, vb, rows, cfg);
        if (caches.length != rows) throw new IllegalArgumentException(rows + " rows but " + caches.length + " caches");
        CudaKvCache[] cs = new CudaKvCache[rows];
        for (int i = 0; i < rows; i++) cs[i] = c(caches[i]);
        long qRow = 4L * qb.cols(), kvRow = 4L * kb.cols();
        for (int i = 0; i < rows; i++)
            attend(o.ptr + i * qRow, qb.ptr + i * qRow, kb.ptr + i * kvRow, vb.ptr + i * kvRow, 1, cs[i], layer, mask, cfg);
    }

    private static void checkAttention(CudaBuf o, CudaBuf qb, CudaBuf kb, CudaBuf vb, int rows, ModelConfig cfg) {
        int kvDim = cfg.kvDim();
        if (qb.cols() != cfg.qDim() || o.cols() != cfg.qDim() || kb.cols() != kvDim || vb.cols() != kvDim || kb.rows() != rows || vb.rows() != rows || o.rows() != rows)
            throw new IllegalArgumentException("attention shapes: q " + qb.rows() + "x" + qb.cols() + ", k " + kb.rows() + "x" + kb.cols()
                    + ", v " + vb.rows() + "x" + vb.cols() + ", out " + o.rows() + "x" + o.cols());
    }

    /** Appends rows of k/v (device pointers, rows x kvDim) to c's layer, then out = attention of q over what the mask allows. */
    private void attend(long oPtr, long qPtr, long kPtr, long vPtr, int rows, CudaKvCache c, int layer, Mask mask, ModelConfig cfg) {
        int start = c.length(), kvDim = cfg.kvDim(), hd = cfg.headDim(), heads = cfg.nHeads(), kvHeads = cfg.nKvHeads();
        if (start + rows > c.capacity()) throw new IllegalStateException("KV cache full: " + (start + rows) + " > " + c.capacity());
        if (mask.kind() == Mask.Kind.PREFIX && c.prefixLength() == 0)
            throw new IllegalArgumentException("a PREFIX mask needs a cache with a prefix");
        if (c.kvDim != kvDim || c.layers != cfg.nLayers() || layer < 0 || layer >= c.layers)
            throw new IllegalArgumentException("layer " + layer + " of a cache of " + c.layers + " layers x " + c.kvDim + " for a model of " + cfg.nLayers() + " x " + kvDim);
        if (rows == 0) return;
        String variant = hd == 64 ? "d64" : hd == 128 ? "d128" : hd % 4 != 0 || hd > 256 ? null : hd <= 32 ? "d32" : "d256";
        if (variant == null)
            throw new SacException("CUDA", "head dim " + hd + " is not supported by the attention kernels (a multiple of 4, at most 256)");

        // append this call's keys and values to the cache's own rows of the layer
        int own = start - c.prefixLength();
        long n = (long) rows * kvDim;
        for (int kv = 0; kv < 2; kv++) {
            long dst = c.plane(layer, kv) + (long) own * c.rowBytes(), srcPtr = kv == 0 ? kPtr : vPtr;
            if (c.bf16)
                kernels.launch("sac_f32_to_bf16").grid(elementwiseBlocks(n)).block(Kernels.ELEMWISE_THREADS).ptr(dst).ptr(srcPtr).i64(n).run();
            else Cu.check(cuMemcpyDtoD(dst, srcPtr, 4 * n), "cuMemcpyDtoD");
        }

        // bf16 K/V at head dim 64 or 128: the tensor-core kernel; both take the same arguments
        boolean mma = c.bf16 && options.tensorCores() && (hd == 64 || hd == 128);
        int qv = mma ? Kernels.ATTN_MMA_QV : Kernels.ATTN_QV;
        int group = heads / kvHeads, bs = mask.kind() == Mask.Kind.BLOCKS ? Math.min(mask.blockSize(), rows) : 1;
        int qBlocks = (rows * group + qv - 1) / qv;
        int longest = 0;  // the longest key range of one block of queries
        for (int blk = 0; blk < qBlocks; blk++) {
            int first = blk * qv, last = Math.min(first + qv, rows * group) - 1;
            longest = Math.max(longest, keyHi(mask.kind(), start, rows, bs, last / group) - keyLo(mask.kind(), start, bs, first / group));
        }
        int splits = splits(qBlocks * kvHeads, longest);
        int splitLen = Integer.MAX_VALUE;
        if (splits > 1) {
            splitLen = ((longest + splits - 1) / splits + 63) / 64 * 64;  // whole key tiles
            splits = (longest + splitLen - 1) / splitLen;
        }
        long po = 0, pml = 0;
        if (splits > 1) {
            po = partO.ensure(4L * splits * rows * heads * hd);
            pml = partMl.ensure(8L * splits * rows * heads);
        }
        CudaKvCache p = c.prefixCache();
        String kernel = mma ? "sac_attn_mma_bf16_" + variant : "sac_attn_" + (c.bf16 ? "bf16_" : "f32_") + variant;
        kernels.launch(kernel).grid(qBlocks, kvHeads, splits).block(mma ? Kernels.ATTN_MMA_THREADS : Kernels.ATTN_THREADS)
                .ptr(splits > 1 ? 0 : oPtr).ptr(qPtr)
                .ptr(p == null ? 0 : p.plane(layer, 0)).ptr(p == null ? 0 : p.plane(layer, 1)).i32(c.prefixLength())
                .ptr(c.plane(layer, 0)).ptr(c.plane(layer, 1))
                .i32(rows).i32(heads).i32(kvHeads).i32(hd).i32(start).i32(mask.kind().ordinal()).i32(bs)
                .f32((float) (1.0 / Math.sqrt(hd))).i32(splitLen).ptr(po).ptr(pml).run();
        if (splits > 1)
            kernels.launch("sac_attn_combine").grid((long) rows * heads).block(Kernels.ATTN_COMBINE_THREADS)
                    .ptr(oPtr).ptr(po).ptr(pml).i32(splits).i32(rows).i32(heads).i32(hd).run();
    }

    // The kernel's key range of query row r (Mask.lo/hi with the block size clamped to the rows, as passed).
    private static int keyLo(Mask.Kind kind, int start, int bs, int r) {
        return kind == Mask.Kind.BLOCKS ? start + (r / bs) * bs : 0;
    }

    private static int keyHi(Mask.Kind kind, int start, int rows, int bs, int r) {
        return kind == Mask.Kind.BLOCKS ? start + Math.min((r / bs + 1) * bs, rows) : start + r + 1;
    }

    /**
     * Split-K for few query blocks over many keys (decode over a long prefix): enough splits to give every
     * multiprocessor about two blocks, each split at least 128 keys, at most 64 splits.
     */
    private int splits(int blocks, int longest) {
        if (blocks >= sms || longest < 256) return 1;
        int s = Math.min((2 * sms + blocks - 1) / blocks, longest / 128);
        return Math.max(1, Math.min(s, 64));
    }

    @Override
    public synchronized void swiglu(Buf gate, Buf up) {
        enter();
        CudaBuf g = b(gate), u = b(up);
        if (g.rows() != u.rows() || g.cols() != u.cols())
            throw new IllegalArgumentException("swiglu: gate " + g.rows() + "x" + g.cols() + ", up " + u.rows() + "x" + u.cols());
        long n = (long) g.rows() * g.cols();
        if (n == 0) return;
        kernels.launch("sac_swiglu_f32").grid(elementwiseBlocks(n)).block(Kernels.ELEMWISE_THREADS).ptr(g.ptr).ptr(u.ptr).i64(n).run();
    }

    @Override
    public synchronized void add(Buf x, Buf y) {
        enter();
        CudaBuf xb = b(x), yb = b(y);
        if (xb.rows() != yb.rows() || xb.cols() != yb.cols())
            throw new IllegalArgumentException("add: " + xb.rows() + "x" + xb.cols() + " + " + yb.rows() + "x" + yb.cols());
        long n = (long) xb.rows() * xb.cols();
        if (n == 0) return;
        kernels.launch("sac_add_f32").grid(elementwiseBlocks(n)).block(Kernels.ELEMWISE_THREADS).ptr(xb.ptr).ptr(yb.ptr).i64(n).run();
    }

    @Override
    public synchronized Buf lastRow(Buf x) {
        enter();
        CudaBuf xb = b(x);
        if (xb.rows() == 0) throw new IllegalArgumentException("lastRow of an empty buffer");
        CudaBuf out = new CudaBuf(this, 1, xb.cols());
        Cu.check(cuMemcpyDtoD(out.ptr, xb.ptr + 4L * (xb.rows() - 1) * xb.cols(), out.bytes()), "cuMemcpyDtoD");
        return out;
    }

    @Override
    public synchronized void copyRows(Buf dst, int dstRow, Buf src, int srcRow, int count) {
        enter();
        Backend.checkCopy(dst, dstRow, src, srcRow, count);
        CudaBuf d = b(dst), s = b(src);
        long bytes = 4L * count * s.cols();
        if (bytes > 0)
            Cu.check(cuMemcpyDtoD(d.ptr + 4L * dstRow * d.cols(), s.ptr + 4L * srcRow * s.cols(), bytes), "cuMemcpyDtoD");
    }

    @Override
    public synchronized void roleAdd(Buf x, Tensor roles, int[] rows, int[] roleIds) {
        enter();
        CudaBuf xb = b(x);
        Backend.checkRoleAdd(xb, roles, rows, roleIds);
        if (rows.length == 0) return;
        int[] both = new int[2 * rows.length];
        System.arraycopy(rows, 0, both, 0, rows.length);
        System.arraycopy(roleIds, 0, both, rows.length, rows.length);
        long idx = ints(both);
        kernels.launch("sac_role_add_f32").grid(rows.length).block(Kernels.ROLE_THREADS)
                .ptr(xb.ptr).ptr(weightF32(roles)).ptr(idx).ptr(idx + 4L * rows.length).i32(xb.cols()).run();
    }

    // ---------------------------------------------------------------- beyond Backend: decoding helpers

    /** Greedy decoding on the device: the index of each row's largest value (first on ties; NaN never wins). */
    public synchronized int[] argmax(Buf logits) {
        enter();
        CudaBuf l = b(logits);
        int[] out = new int[l.rows()];
        if (l.rows() == 0 || l.cols() == 0) return out;
        long dst = ints.ensure(4L * l.rows());
        kernels.launch("sac_argmax_f32").grid(l.rows()).block(Kernels.ARGMAX_THREADS).ptr(dst).ptr(l.ptr).i32(l.cols()).run();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * out.length, 64);
            Cu.check(cuMemcpyDtoH(new Cu.Addr(s.address(), s.byteSize()), dst, s.byteSize()), "cuMemcpyDtoH");
            MemorySegment.copy(s, ValueLayout.JAVA_INT, 0, out, 0, out.length);
        }
        return out;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        if (profile != null) System.err.print(profile.report(name()));
        RuntimeException first = null;
        try {
            Cu.check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        } catch (RuntimeException e) {
            first = e;
        }
        closed = true;
        for (AutoCloseable r : new AutoCloseable[]{cublas, kernels, memory}) {
            if (r == null) continue;
            try {
                r.close();
            } catch (Exception e) {
                if (first == null) first = e instanceof RuntimeException re ? re : new RuntimeException(e);
            }
        }
        weights.clear();
        weightsF32.clear();
        int[] dev = new int[1];
        if (cuDeviceGet(dev, device) == 0) {
            int rc = cuDevicePrimaryCtxRelease(dev[0]);
            if (rc != 0 && first == null) first = new CudaException("cuDevicePrimaryCtxRelease", rc, Cu.describe(rc));
        }
        if (first != null) throw first;
    }
}
