package io.sac4j.forward;

import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * The operations a forward pass and SAC need, implemented once per device: {@code cpu.CpuBackend} (Vector API) and
 * {@code cuda.CudaBackend} (our kernels, cuBLAS), picked in {@link Backends}. Weights are passed as {@link Tensor}s
 * (a device backend uploads each once and keeps it); activations are {@link Buf}s it allocates. All matrices are
 * row-major; a "row" is one token.
 */
public interface Backend extends AutoCloseable {
    String name();

    Buf alloc(int rows, int cols);

    /** Copies host floats (rows x cols, row-major) into {@code dst}. */
    void write(Buf dst, float[] src);

    /** Copies row {@code row} of {@code src} to the host. */
    void readRow(Buf src, int row, float[] dst);

    /** out[t] = table[tokens[t]]. */
    void embed(Buf out, Tensor table, int[] tokens);

    /**
     * SAC's anchor embeddings: x[rows[i]] += roles[roleIds[i]], roles being [count][x.cols] (the adapter's
     * role_tokens). The rows must be distinct ({@link #checkRoleAdd}).
     */
    void roleAdd(Buf x, Tensor roles, int[] rows, int[] roleIds);

    /** {@link #roleAdd}'s argument checks, the same on every backend. */
    static void checkRoleAdd(Buf x, Tensor roles, int[] rows, int[] roleIds) {
        if (rows.length != roleIds.length) throw new IllegalArgumentException(rows.length + " anchor rows but " + roleIds.length + " role ids");
        if (roles.cols() != x.cols()) throw new IllegalArgumentException("role vectors " + roles + " for rows of " + x.cols());
        BitSet seen = new BitSet();
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] < 0 || rows[i] >= x.rows()) throw new IllegalArgumentException("anchor row " + rows[i] + " is outside 0.." + (x.rows() - 1));
            if (seen.get(rows[i])) throw new IllegalArgumentException("anchor row " + rows[i] + " appears twice");
            seen.set(rows[i]);
            if (roleIds[i] < 0 || roleIds[i] >= roles.rows()) throw new IllegalArgumentException("role id " + roleIds[i] + " is outside 0.." + (roles.rows() - 1));
        }
    }

    /** out[t] = x[t] / rms(x[t]) * gain. */
    void rmsNorm(Buf out, Buf x, Tensor gain, float eps);

    /** out[t, n] = sum_k x[t, k] * w[n, k]: every linear layer (w is [out, in]). */
    void matmul(Buf out, Buf x, Tensor w);

    /** x[t] += bias. */
    void addBias(Buf x, Tensor bias);

    /** Rotates each head of each row by the angles of its row in {@code table}. */
    void rope(Buf x, int heads, Rope.Table table);

    /** A cache for {@code capacity} new rows on top of {@code prefix} (may be null). */
    KvCache newCache(ModelConfig config, int capacity, KvCache prefix);

    /**
     * Writes k and v (rows x kvDim) into {@code cache} at rows [cache.length(), +rows) of {@code layer}, then
     * out = softmax(q K^T / sqrt(headDim)) V over the rows {@code mask} allows, with grouped-query sharing.
     */
    void attention(Buf out, Buf q, Buf k, Buf v, KvCache cache, int layer, Mask mask, ModelConfig config);

    /**
     * {@link #attention} of each row alone: row i of q, k, v (one new row of sequence i) goes to {@code caches[i]} and
     * attends to it; out row i gets the result. How several sequences decode together (Llama.decodeEach). This
     * default runs each row through 1-row buffers; a device backend may point its kernels at the rows instead.
     */
    default void attendEach(Buf out, Buf q, Buf k, Buf v, KvCache[] caches, int layer, Mask mask, ModelConfig config) {
        Buf q1 = alloc(1, q.cols()), k1 = alloc(1, k.cols()), v1 = alloc(1, v.cols()), o1 = alloc(1, out.cols());
        for (int i = 0; i < caches.length; i++) {
            copyRows(q1, 0, q, i, 1);
            copyRows(k1, 0, k, i, 1);
            copyRows(v1, 0, v, i, 1);
            attention(o1, q1, k1, v1, caches[i], layer, mask, config);
            copyRows(out, i, o1, 0, 1);
        }
    }

    /** A full, read-only-by-convention cache over host rows: k[layer] and v[layer] are [rows][kvDim]. */
    KvCache cacheOf(float[][] k, float[][] v, ModelConfig config);

    /** Fills one plane of a cache being loaded: the keys (plane 0) or values (plane 1) of a layer, rows x kvDim. */
    interface PlaneReader {
        void read(int layer, int plane, float[] dst) throws java.io.IOException;
    }

    /**
     * A full, read-only-by-convention cache of {@code rows} rows per layer, whose planes {@code reader} fills in file
     * order (layer 0 keys, layer 0 values, layer 1 keys, ...): how a .sac file loads. A device backend holds one
     * plane on the host at a time and sends it on, so a saved context goes straight to the device.
     */
    KvCache load(int layers, int rows, int kvHeads, int headDim, PlaneReader reader) throws java.io.IOException;

    /**
     * A new cache holding rows {@code rows} (cache indices, ascending) of {@code src}, every layer, in that order:
     * how SAC keeps the anchors' K/V. The result has no prefix and no spare capacity.
     */
    KvCache gather(KvCache src, int[] rows, ModelConfig config);

    /**
     * The own rows of {@code parts}, in order, as one new cache (no prefix, no spare capacity): how SAC joins the
     * anchors its encoder calls kept. This default goes through host arrays; a device backend copies on the device.
     */
    default KvCache concat(List<KvCache> parts, ModelConfig config) {
        int layers = config.nLayers();
        float[][] k = new float[layers][], v = new float[layers][];
        for (int l = 0; l < layers; l++) {
            List<float[][]> rows = new ArrayList<>();
            int total = 0;
            for (KvCache p : parts) {
                float[][] kv = p.ownRows(l);
                rows.add(kv);
                total += kv[0].length;
            }
            k[l] = new float[total];
            v[l] = new float[total];
            int at = 0;
            for (float[][] kv : rows) {
                System.arraycopy(kv[0], 0, k[l], at, kv[0].length);
                System.arraycopy(kv[1], 0, v[l], at, kv[1].length);
                at += kv[0].length;
            }
        }
        return cacheOf(k, v, config);
    }

    /** gate = silu(gate) * up. */
    void swiglu(Buf gate, Buf up);

    /** x += y. */
    void add(Buf x, Buf y);

    /** Keeps only the last row: a 1 x cols view or copy of row rows-1. */
    Buf lastRow(Buf x);

    /** Copies rows [srcRow, srcRow + count) of src over rows [dstRow, dstRow + count) of dst (same cols). */
    void copyRows(Buf dst, int dstRow, Buf src, int srcRow, int count);

    /** The argument checks every {@link #copyRows} makes. */
    static void checkCopy(Buf dst, int dstRow, Buf src, int srcRow, int count) {
        if (dst.cols() != src.cols() || count < 0 || srcRow < 0 || dstRow < 0 || srcRow + count > src.rows()
                || dstRow + count > dst.rows())
            throw new IllegalArgumentException("copyRows: " + count + " rows from row " + srcRow + " of " + src.rows() + "x"
                    + src.cols() + " to row " + dstRow + " of " + dst.rows() + "x" + dst.cols());
    }

    @Override
    default void close() {
    }
}
