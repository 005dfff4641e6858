package io.sac4j.forward.cpu;

import io.sac4j.forward.Backend;
import io.sac4j.forward.Buf;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Mask;
import io.sac4j.forward.Rope;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The CPU backend: Java Vector API kernels ({@link CpuMatmul} for the linear layers, {@link CpuAttention} for
 * attention) on a fixed team of threads ({@link Parallel}). Work is always split over rows or output columns, never
 * over a sum, so results are bit-identical whatever the thread count; and the vector helpers avoid JIT-dependent
 * roundings ({@link Vec}), so a model gives the same logits on its first call as on later ones.
 */
public final class CpuBackend implements Backend {
    private static final VectorSpecies<Float> F = CpuMatmul.F;
    private final Parallel par;
    /** Reused buffer for the packed activations of a GEMM (see CpuMatmul.matmul). */
    private final AtomicReference<float[]> packed = new AtomicReference<>();

    public CpuBackend(int threads) {
        this.par = new Parallel(threads);
    }

    /** One thread per available processor. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public int threads() {
        return par.threads();
    }

    @Override
    public String name() {
        return "cpu (" + par.threads() + " threads, " + F.vectorBitSize() + "-bit vectors)";
    }

    private static CpuBuf b(Buf buf) {
        return (CpuBuf) buf;
    }

    @Override
    public Buf alloc(int rows, int cols) {
        return new CpuBuf(rows, cols);
    }

    @Override
    public void write(Buf dst, float[] src) {
        System.arraycopy(src, 0, b(dst).data(), 0, dst.rows() * dst.cols());
    }

    @Override
    public void readRow(Buf src, int row, float[] dst) {
        System.arraycopy(b(src).data(), row * src.cols(), dst, 0, src.cols());
    }

    @Override
    public void embed(Buf out, Tensor table, int[] tokens) {
        float[] o = b(out).data();
        int dim = out.cols();
        for (int t = 0; t < tokens.length; t++) {
            if (tokens[t] < 0 || tokens[t] >= table.rows())
                throw new IllegalArgumentException("token id " + tokens[t] + " is outside the vocabulary (0.." + (table.rows() - 1) + ")");
            table.readRow(tokens[t], o, t * dim);
        }
    }

    @Override
    public void roleAdd(Buf x, Tensor roles, int[] rows, int[] roleIds) {
        Backend.checkRoleAdd(x, roles, rows, roleIds);
        float[] xs = b(x).data(), role = new float[x.cols()];
        int dim = x.cols();
        for (int i = 0; i < rows.length; i++) {
            roles.readRow(roleIds[i], role, 0);
            for (int d = 0; d < dim; d++) xs[rows[i] * dim + d] += role[d];
        }
    }

    @Override
    public void rmsNorm(Buf out, Buf x, Tensor gain, float eps) {
        float[] g = gain.toFloats();
        float[] xs = b(x).data(), os = b(out).data();
        int d = x.cols();
        par.forRange(x.rows(), 8, (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int o = t * d;
                float ss = CpuMatmul.dot(xs, o, xs, o, d);
                float scale = (float) (1.0 / Math.sqrt(ss / d + eps));
                int i = 0;
                for (int end = F.loopBound(d); i < end; i += F.length())
                    FloatVector.fromArray(F, xs, o + i).mul(scale).mul(FloatVector.fromArray(F, g, i)).intoArray(os, o + i);
                for (; i < d; i++) os[o + i] = xs[o + i] * scale * g[i];
            }
        });
    }

    @Override
    public void matmul(Buf out, Buf x, Tensor w) {
        if (x.cols() != w.cols() || out.cols() != w.rows() || out.rows() != x.rows())
            throw new IllegalArgumentException("matmul shapes: x " + x.rows() + "x" + x.cols() + ", w " + w + ", out " + out.rows() + "x" + out.cols());
        CpuMatmul.matmul(b(out).data(), b(x).data(), x.rows(), w, par, packed);
    }

    @Override
    public void addBias(Buf x, Tensor bias) {
        float[] bs = bias.toFloats(), xs = b(x).data();
        int d = x.cols();
        for (int t = 0; t < x.rows(); t++)
            for (int i = 0; i < d; i++) xs[t * d + i] += bs[i];
    }

    @Override
    public void rope(Buf x, int heads, Rope.Table table) {
        float[] xs = b(x).data();
        int hd = table.headDim(), half = hd / 2, d = x.cols();
        float[] cos = table.cos(), sin = table.sin();
        boolean adjacent = table.style() == ModelConfig.RopeStyle.ADJACENT;
        par.forRange(x.rows(), 8, (lo, hi) -> {
            for (int t = lo; t < hi; t++)
                for (int h = 0; h < heads; h++) {
                    int o = t * d + h * hd, c = t * half, i = 0;
                    if (!adjacent) { // HALVES: both halves are contiguous, so rotate VL pairs at a time
                        for (int end = F.loopBound(half); i < end; i += F.length()) {
                            FloatVector x0 = FloatVector.fromArray(F, xs, o + i), x1 = FloatVector.fromArray(F, xs, o + half + i);
                            FloatVector cv = FloatVector.fromArray(F, cos, c + i), sv = FloatVector.fromArray(F, sin, c + i);
                            x0.mul(cv).sub(x1.mul(sv)).intoArray(xs, o + i);
                            x0.mul(sv).add(x1.mul(cv)).intoArray(xs, o + half + i);
                        }
                    }
                    for (; i < half; i++) {
                        int a = adjacent ? o + 2 * i : o + i, bIdx = adjacent ? a + 1 : a + half;
                        float cs = cos[c + i], sn = sin[c + i], x0 = xs[a], x1 = xs[bIdx];
                        xs[a] = x0 * cs - x1 * sn;
                        xs[bIdx] = x0 * sn + x1 * cs;
                    }
                }
        });
    }

    @Override
    public KvCache newCache(ModelConfig config, int capacity, KvCache prefix) {
        return new CpuKvCache(config.nLayers(), config.nKvHeads(), config.headDim(), capacity, prefix);
    }

    @Override
    public KvCache cacheOf(float[][] k, float[][] v, ModelConfig config) {
        if (k.length != config.nLayers() || v.length != config.nLayers())
            throw new IllegalArgumentException("cache rows for " + k.length + " layers, model has " + config.nLayers());
        return CpuKvCache.of(k, v, config.nKvHeads(), config.headDim());
    }

    @Override
    public KvCache load(int layers, int rows, int kvHeads, int headDim, PlaneReader reader) throws java.io.IOException {
        int n = Math.multiplyExact(rows, Math.multiplyExact(kvHeads, headDim));
        float[][] k = new float[layers][], v = new float[layers][];
        for (int l = 0; l < layers; l++) {
            reader.read(l, 0, k[l] = new float[n]);
            reader.read(l, 1, v[l] = new float[n]);
        }
        return CpuKvCache.of(k, v, kvHeads, headDim);
    }

    @Override
    public KvCache gather(KvCache src, int[] rows, ModelConfig config) {
        CpuKvCache c = (CpuKvCache) src;
        int kvDim = config.kvDim(), layers = config.nLayers();
        float[][] k = new float[layers][rows.length * kvDim], v = new float[layers][rows.length * kvDim];
        for (int i = 0; i < rows.length; i++) {
            int r = rows[i];
            if (r < 0 || r >= c.length()) throw new IllegalArgumentException("row " + r + " is not in the cache (length " + c.length() + ")");
            CpuKvCache owner = c;
            while (r < owner.prefixLength()) owner = owner.prefixCache();
            int own = r - owner.prefixLength();
            for (int l = 0; l < layers; l++) owner.read(l, own, k[l], v[l], i * kvDim);
        }
        return CpuKvCache.of(k, v, config.nKvHeads(), config.headDim());
    }

    /**
     * The cache's rows from 0 to {@code end}: the prefix chain's first (each prefix only up to its length, even
     * if it has spare capacity), then this cache's own.
     */
    private static List<CpuAttention.Segment> segments(CpuKvCache c, int layer, int end) {
        List<CpuAttention.Segment> out = new ArrayList<>();
        if (c.prefix() != null) out.addAll(segments(c.prefixCache(), layer, c.prefixLength()));
        int first = c.prefixLength();
        out.add(new CpuAttention.Segment(c.k[layer], c.v[layer], c.kHead, c.vHead, first, end - first));
        return out;
    }

    @Override
    public void attention(Buf out, Buf q, Buf k, Buf v, KvCache cache, int layer, Mask mask, ModelConfig cfg) {
        CpuKvCache c = (CpuKvCache) cache;
        int rows = q.rows(), start = c.length();
        if (start + rows > c.capacity()) throw new IllegalStateException("KV cache full: " + (start + rows) + " > " + c.capacity());
        if (mask.kind() == Mask.Kind.PREFIX && c.prefixLength() == 0)
            throw new IllegalArgumentException("a PREFIX mask needs a cache with a prefix");
        c.write(layer, start - c.prefixLength(), b(k).data(), b(v).data(), rows);
        CpuAttention.run(b(out).data(), b(q).data(), rows, start, segments(c, layer, start + rows), mask,
                cfg.nHeads(), cfg.nKvHeads(), cfg.headDim(), par);
    }

    /**
     * gate = silu(gate) * up = gate / (1 + exp(-gate)) * up, with the vector exp for every element, the tail too
     * (masked): an element's value must not depend on where the rows beside it put the tail (Llama.decodeEach).
     */
    @Override
    public void swiglu(Buf gate, Buf up) {
        float[] g = b(gate).data(), u = b(up).data();
        par.forRange(g.length, 4096, (lo, hi) -> {
            int i = lo;
            for (int end = lo + F.loopBound(hi - lo); i < end; i += F.length()) {
                FloatVector x = FloatVector.fromArray(F, g, i);
                x.div(Vec.exp(x.neg()).add(1f)).mul(FloatVector.fromArray(F, u, i)).intoArray(g, i);
            }
            if (i < hi) { // lanes are independent: the same values as unmasked
                VectorMask<Float> m = F.indexInRange(i, hi);
                FloatVector x = FloatVector.fromArray(F, g, i, m);
                x.div(Vec.exp(x.neg()).add(1f)).mul(FloatVector.fromArray(F, u, i, m)).intoArray(g, i, m);
            }
        });
    }

    @Override
    public void add(Buf x, Buf y) {
        float[] xs = b(x).data(), ys = b(y).data();
        par.forRange(x.rows() * x.cols(), 4096, (lo, hi) -> {
            int i = lo;
            for (int end = lo + F.loopBound(hi - lo); i < end; i += F.length())
                FloatVector.fromArray(F, xs, i).add(FloatVector.fromArray(F, ys, i)).intoArray(xs, i);
            for (; i < hi; i++) xs[i] += ys[i];
        });
    }

    @Override
    public void copyRows(Buf dst, int dstRow, Buf src, int srcRow, int count) {
        Backend.checkCopy(dst, dstRow, src, srcRow, count);
        System.arraycopy(b(src).data(), srcRow * src.cols(), b(dst).data(), dstRow * dst.cols(), count * src.cols());
    }

    @Override
    public Buf lastRow(Buf x) {
        CpuBuf out = new CpuBuf(1, x.cols());
        System.arraycopy(b(x).data(), (x.rows() - 1) * x.cols(), out.data(), 0, x.cols());
        return out;
    }

    @Override
    public void close() {
        par.close();
    }
}
