package io.sac4j.forward.cpu;

import io.sac4j.load.DType;
import io.sac4j.load.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * out[t, n] = sum_k x[t, k] * w[n, k] for every weight type (F32, F16, BF16, Q8_0), reading the weights straight
 * from their (usually memory-mapped) segment. Activations and accumulation are f32, and every weight is widened to
 * its exact f32 value (a Q8_0 weight is its quant times its block's scale, a product f32 holds exactly), so results
 * differ from a plain f32 loop only by the order of the additions.
 * <ul>
 * <li>One row (decode) is a GEMV, bound by memory bandwidth: weights are widened in registers as they stream in.
 * <li>More rows (prefill) is a GEMM, bound by FMA throughput: a 4 x 4 register tile (4 token rows x 4 weight rows)
 * over packed copies; each thread widens an L2-sized block of its weight rows to f32 once and runs every token
 * tile over it, so the widening costs nothing per token and one kernel serves every type.
 * <li>A few rows (up to {@link #FEW_ROWS}): the same tile on weights widened in registers (F16: in a 4-row scratch),
 * no block copy, which too few token tiles would not pay for; summed in the GEMV's order, so up to
 * {@link #EXACT_ROWS} rows of any type give each row what the GEMV gives it.
 * </ul>
 * Work is split over output columns (weight rows) only, so a result never depends on the thread count.
 */
public final class CpuMatmul {
    static final VectorSpecies<Float> F = Vec.F;
    static final int VL = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** Whether a Q8_0 block (32 quants) splits into whole vectors that one byte load each can fill. */
    static final boolean Q8_VECTORS = VL <= 32 && 32 % VL == 0 && B.length() == VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    private CpuMatmul() {
    }

    /**
     * out = x w^T for x of {@code rows} rows. {@code spare} holds a buffer for the packed copy of x between calls
     * (it is as large as x, 4 MB for 512 rows of 2048, and every GEMM needs one); null to allocate each time.
     */
    public static void matmul(float[] out, float[] x, int rows, Tensor w, Parallel par, AtomicReference<float[]> spare) {
        if (rows == 1) gemv(out, x, w, par);
        else if (rows <= FEW_ROWS && (w.type() != DType.Q8_0 || Q8_VECTORS)) gemmFew(out, x, rows, w, par);
        else if (rows <= EXACT_ROWS) gemvEach(out, x, rows, w, par);
        else gemm(out, x, rows, w, par, spare);
    }

    /**
     * Up to this many rows, every weight type gives each row exactly what the GEMV gives that row alone (through
     * {@link #gemmFew}; Q8_0 through {@link #gemvEach} where its blocks do not split into whole vectors): so answers
     * decoded together, one row per question, equal answers decoded one at a time, bit for bit (see
     * Llama.decodeEach).
     */
    public static final int EXACT_ROWS = 8;

    /** Q8_0 rows one GEMV at a time, where vector widths that do not divide a block leave it no few-row tile. */
    private static void gemvEach(float[] out, float[] x, int rows, Tensor w, Parallel par) {
        int n = w.rows(), k = w.cols();
        float[] xr = new float[k], or = new float[n];
        for (int t = 0; t < rows; t++) {
            System.arraycopy(x, t * k, xr, 0, k);
            gemv(or, xr, w, par);
            System.arraycopy(or, 0, out, t * n, n);
        }
    }

    // ---------------------------------------------------------------- GEMM of a few rows

    /**
     * Up to this many token rows (a question, a short prompt) use {@link #gemmFew}: with few rows the GEMM's widening
     * of every weight into an L2 block is not spread over enough token tiles. Measured here on a 8192 x 2048 matrix,
     * 2 threads, GFLOP/s of the GEMM / of gemmFew: BF16 16 rows 93-103 / 141-158, 32 rows 137 / 133-175, 64 rows
     * 154-158 / 153, 128 rows 163-169 / 155; F32 16 rows 68-80 / 107-126, 64 rows 114 / 154. Q8_0 (ms, 2048 x 8192
     * at 16 and 44 rows, 8192 x 2048 at 64): 4.56 / 3.82, 12.7 / 10.6, 14.4 / 13.5.
     */
    static final int FEW_ROWS = 64;

    /**
     * The GEMM's 4 x 4 register tile, but with the weights read straight from their segment and widened in registers,
     * as the GEMV does, and x read in place: no packing at all. Each thread keeps a 4-row weight tile (16 KB of BF16
     * at k = 2048) in L1/L2 while every token tile passes over it. F32, BF16 and Q8_0 widen in registers (a shift; a
     * conversion and the block scale's multiply); F16 weight tiles are first widened to f32 in a small scratch
     * (exactly: the same values), then run as F32. Each output is summed in the GEMV's order (VL lanes over whole
     * vectors, {@link Vec#sum}, then the tail element by element), so a row's result does not depend on the rows
     * beside it.
     */
    static void gemmFew(float[] out, float[] x, int rows, Tensor w, Parallel par) {
        int n = w.rows(), k = w.cols(), wTiles = (n + 3) / 4, kFull = k - k % VL;
        long rb = w.rowBytes();
        DType type = w.type();
        MemorySegment s = w.data();
        par.forRange(wTiles, 1, (lo, hi) -> {
            float[] acc = new float[16 * VL];
            MemorySegment f32 = type == DType.F16 ? f16Scratch(16L * Math.max(kFull, 1)) : null;
            for (int j = lo; j < hi; j++) {
                int n0 = 4 * j, cols = Math.min(4, n - n0);
                // rows past the end are computed again from the last one and not stored (sums skips them)
                long o0 = rb * Math.min(n0, n - 1), o1 = rb * Math.min(n0 + 1, n - 1);
                long o2 = rb * Math.min(n0 + 2, n - 1), o3 = rb * Math.min(n0 + 3, n - 1);
                MemorySegment ws = s;
                if (f32 != null) {
                    widenF16(s, o0, f32, 0, kFull);
                    widenF16(s, o1, f32, 4L * kFull, kFull);
                    widenF16(s, o2, f32, 8L * kFull, kFull);
                    widenF16(s, o3, f32, 12L * kFull, kFull);
                    ws = f32;
                    o0 = 0;
                    o1 = 4L * kFull;
                    o2 = 8L * kFull;
                    o3 = 12L * kFull;
                }
                for (int t0 = 0; t0 < rows; t0 += 4) {
                    int x0 = k * t0, x1 = k * Math.min(t0 + 1, rows - 1);
                    int x2 = k * Math.min(t0 + 2, rows - 1), x3 = k * Math.min(t0 + 3, rows - 1);
                    if (type == DType.BF16) fewBf16(ws, o0, o1, o2, o3, x, x0, x1, x2, x3, kFull, acc);
                    else if (type == DType.Q8_0) fewQ8(ws, o0, o1, o2, o3, x, x0, x1, x2, x3, k, acc);
                    else fewF32(ws, o0, o1, o2, o3, x, x0, x1, x2, x3, kFull, acc);
                    int tr = Math.min(4, rows - t0);
                    sums(acc, out, t0, tr, n0, cols, n, false);
                    if (kFull < k) tails(out, x, k, kFull, t0, tr, n0, cols, n, w);
                }
            }
        });
    }

    /**
     * Each thread's scratch for 4 widened F16 rows, kept between calls (a decode step makes ~100 of them) and grown
     * when a wider matrix comes. Off-heap, as the weights: vector loads from a heap segment were ~10x slower here.
     */
    private static final ThreadLocal<MemorySegment> F16_SCRATCH = ThreadLocal.withInitial(() -> MemorySegment.NULL);

    private static MemorySegment f16Scratch(long bytes) {
        MemorySegment m = F16_SCRATCH.get();
        if (m.byteSize() < bytes) F16_SCRATCH.set(m = Arena.ofAuto().allocate(bytes, 64));
        return m;
    }

    /** f16 row at byte offset {@code from} of s, its first {@code count} weights, to f32 at byte offset to of dst. */
    private static void widenF16(MemorySegment s, long from, MemorySegment dst, long to, int count) {
        for (int i = 0; i < count; i += VL) f16(s, from + 2L * i).intoMemorySegment(dst, to + 4L * i, LE);
    }

    /** out[t0 + r, n0 + c] += x[t0 + r, e] * w[n0 + c, e] for e in [from, k), in order: the GEMV's tail. */
    private static void tails(float[] out, float[] x, int k, int from, int t0, int rows, int n0, int cols, int n, Tensor w) {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int o = (t0 + r) * n + n0 + c, xo = (t0 + r) * k;
                long base = (n0 + c) * w.rowBytes();
                float sum = out[o];
                for (int e = from; e < k; e++) sum += x[xo + e] * scalar(w.type(), w.data(), base, e);
                out[o] = sum;
            }
    }

    /** acc[4 r + c] = lanes of x row r times BF16 weight row c (row byte offsets o0..o3, x row offsets x0..x3). */
    private static void fewBf16(MemorySegment s, long o0, long o1, long o2, long o3, float[] x, int x0, int x1, int x2, int x3,
                                int k, float[] acc) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < k; i += VL) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i), v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i), v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector w = bf16(s, o0 + 2L * i);
            a00 = v0.fma(w, a00);
            a10 = v1.fma(w, a10);
            a20 = v2.fma(w, a20);
            a30 = v3.fma(w, a30);
            w = bf16(s, o1 + 2L * i);
            a01 = v0.fma(w, a01);
            a11 = v1.fma(w, a11);
            a21 = v2.fma(w, a21);
            a31 = v3.fma(w, a31);
            w = bf16(s, o2 + 2L * i);
            a02 = v0.fma(w, a02);
            a12 = v1.fma(w, a12);
            a22 = v2.fma(w, a22);
            a32 = v3.fma(w, a32);
            w = bf16(s, o3 + 2L * i);
            a03 = v0.fma(w, a03);
            a13 = v1.fma(w, a13);
            a23 = v2.fma(w, a23);
            a33 = v3.fma(w, a33);
        }
        store16(acc, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
    }

    /**
     * As {@link #fewBf16} for Q8_0 weights (k a multiple of 32, {@link #Q8_VECTORS}): each quant times its block
     * scale, then multiply-adds, in the GEMV's order.
     */
    private static void fewQ8(MemorySegment s, long o0, long o1, long o2, long o3, float[] x, int x0, int x1, int x2, int x3,
                              int k, float[] acc) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int blocks = k / 32;
        for (int bi = 0; bi < blocks; bi++) { // block index and offsets linear: the bounds checks hoist
            long b = 34L * bi;
            int xi = 32 * bi;
            FloatVector d0 = FloatVector.broadcast(F, scale(s, o0 + b)), d1 = FloatVector.broadcast(F, scale(s, o1 + b));
            FloatVector d2 = FloatVector.broadcast(F, scale(s, o2 + b)), d3 = FloatVector.broadcast(F, scale(s, o3 + b));
            for (int j = 0; j < 32; j += VL) {
                int i = xi + j;
                FloatVector v0 = FloatVector.fromArray(F, x, x0 + i), v1 = FloatVector.fromArray(F, x, x1 + i);
                FloatVector v2 = FloatVector.fromArray(F, x, x2 + i), v3 = FloatVector.fromArray(F, x, x3 + i);
                FloatVector w = quants(s, o0 + b + 2 + j).mul(d0);
                a00 = v0.fma(w, a00);
                a10 = v1.fma(w, a10);
                a20 = v2.fma(w, a20);
                a30 = v3.fma(w, a30);
                w = quants(s, o1 + b + 2 + j).mul(d1);
                a01 = v0.fma(w, a01);
                a11 = v1.fma(w, a11);
                a21 = v2.fma(w, a21);
                a31 = v3.fma(w, a31);
                w = quants(s, o2 + b + 2 + j).mul(d2);
                a02 = v0.fma(w, a02);
                a12 = v1.fma(w, a12);
                a22 = v2.fma(w, a22);
                a32 = v3.fma(w, a32);
                w = quants(s, o3 + b + 2 + j).mul(d3);
                a03 = v0.fma(w, a03);
                a13 = v1.fma(w, a13);
                a23 = v2.fma(w, a23);
                a33 = v3.fma(w, a33);
            }
        }
        store16(acc, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
    }

    /** As {@link #fewBf16} for F32 weights. */
    private static void fewF32(MemorySegment s, long o0, long o1, long o2, long o3, float[] x, int x0, int x1, int x2, int x3,
                               int k, float[] acc) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < k; i += VL) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i), v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i), v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector w = f32(s, o0 + 4L * i);
            a00 = v0.fma(w, a00);
            a10 = v1.fma(w, a10);
            a20 = v2.fma(w, a20);
            a30 = v3.fma(w, a30);
            w = f32(s, o1 + 4L * i);
            a01 = v0.fma(w, a01);
            a11 = v1.fma(w, a11);
            a21 = v2.fma(w, a21);
            a31 = v3.fma(w, a31);
            w = f32(s, o2 + 4L * i);
            a02 = v0.fma(w, a02);
            a12 = v1.fma(w, a12);
            a22 = v2.fma(w, a22);
            a32 = v3.fma(w, a32);
            w = f32(s, o3 + 4L * i);
            a03 = v0.fma(w, a03);
            a13 = v1.fma(w, a13);
            a23 = v2.fma(w, a23);
            a33 = v3.fma(w, a33);
        }
        store16(acc, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
    }

    /** The 16 accumulators of a tile to acc, [4 token rows][4 weight rows][VL], the layout {@link #sums} reads. */
    private static void store16(float[] acc, FloatVector a00, FloatVector a01, FloatVector a02, FloatVector a03,
                                FloatVector a10, FloatVector a11, FloatVector a12, FloatVector a13,
                                FloatVector a20, FloatVector a21, FloatVector a22, FloatVector a23,
                                FloatVector a30, FloatVector a31, FloatVector a32, FloatVector a33) {
        a00.intoArray(acc, 0);
        a01.intoArray(acc, VL);
        a02.intoArray(acc, 2 * VL);
        a03.intoArray(acc, 3 * VL);
        a10.intoArray(acc, 4 * VL);
        a11.intoArray(acc, 5 * VL);
        a12.intoArray(acc, 6 * VL);
        a13.intoArray(acc, 7 * VL);
        a20.intoArray(acc, 8 * VL);
        a21.intoArray(acc, 9 * VL);
        a22.intoArray(acc, 10 * VL);
        a23.intoArray(acc, 11 * VL);
        a30.intoArray(acc, 12 * VL);
        a31.intoArray(acc, 13 * VL);
        a32.intoArray(acc, 14 * VL);
        a33.intoArray(acc, 15 * VL);
    }

    // ---------------------------------------------------------------- GEMM

    /** Columns per pass: a packed 4-row tile of x or w is then at most 32 KB, so it stays in L1/L2 while reused. */
    static final int KC = 2048;
    /** Bytes of packed weights per block: a block stays in L2 while every token tile passes over it. */
    static final int BLOCK_BYTES = 512 * 1024;

    /**
     * Many token rows: compute bound. For each pass over KC columns, x is packed once into 4-row tiles; each thread
     * then widens a block of its weight rows to f32 (once per pass, so the conversion cost is spread over all token
     * rows) and runs the 4 x 4 kernel over every token tile against it. Passes after the first add to out.
     */
    static void gemm(float[] out, float[] x, int rows, Tensor w, Parallel par, AtomicReference<float[]> spare) {
        int n = w.rows(), k = w.cols(), tiles = (rows + 3) / 4, wTiles = (n + 3) / 4;
        int maxKv = (Math.min(k, KC) + VL - 1) / VL;
        float[] kept = spare == null ? null : spare.getAndSet(null); // null if another thread has it now
        float[] xp = kept != null && kept.length >= tiles * maxKv * 4 * VL ? kept : new float[tiles * maxKv * 4 * VL];
        for (int k0 = 0; k0 < k; k0 += KC) {
            int kc = Math.min(KC, k - k0), kv = (kc + VL - 1) / VL, tileFloats = kv * 4 * VL, from = k0;
            boolean accumulate = k0 > 0;
            par.forRange(tiles, 1, (lo, hi) -> {
                for (int t = lo; t < hi; t++)
                    for (int c = 0; c < 4; c++) {
                        int off = t * tileFloats + c * VL;
                        if (4 * t + c < rows) packX(x, (4 * t + c) * k + from, kc, xp, off);
                        else zero(xp, off, kv, 4 * VL);
                    }
            });
            int block = Math.max(1, BLOCK_BYTES / (tileFloats * 4));
            par.forRange(wTiles, 1, (lo, hi) -> {
                float[] wp = new float[Math.min(block, hi - lo) * tileFloats], acc = new float[16 * VL];
                for (int b = lo; b < hi; b += block) {
                    int bt = Math.min(block, hi - b);
                    for (int j = 0; j < bt; j++)
                        for (int c = 0; c < 4; c++) {
                            int row = 4 * (b + j) + c, off = j * tileFloats + c * VL;
                            if (row < n) convertRow(w, row, from, kc, wp, off, 4 * VL);
                            else zero(wp, off, kv, 4 * VL);
                        }
                    for (int t = 0; t < tiles; t++)
                        for (int j = 0; j < bt; j++)
                            kernel4x4(xp, t * tileFloats, wp, j * tileFloats, kv, acc, out, 4 * t, rows, 4 * (b + j), n, accumulate);
                }
            });
        }
        if (spare != null) spare.set(xp);
    }

    private static void zero(float[] dst, int off, int kv, int stride) {
        for (int i = 0; i < kv; i++) java.util.Arrays.fill(dst, off + i * stride, off + i * stride + VL, 0f);
    }

    /** Copies x[xo .. xo+k) to dst in VL-float pieces {@code 4 * VL} apart, zero-padding the last. */
    private static void packX(float[] x, int xo, int k, float[] dst, int off) {
        int i = 0, stride = 4 * VL;
        for (; (i + 1) * VL <= k; i++) FloatVector.fromArray(F, x, xo + i * VL).intoArray(dst, off + i * stride);
        if (i * VL < k) FloatVector.fromArray(F, x, xo + i * VL, F.indexInRange(i * VL, k)).intoArray(dst, off + i * stride);
    }

    /**
     * The 4 x 4 register tile: 4 token rows against 4 weight rows, both packed as [kv][4][VL] so that each step
     * loads 8 vectors for 16 FMAs. The 16 accumulators must stay locals (an array of vectors is 20x slower); at the
     * end they go through {@code acc} to {@link #sums}, which keeps this method small enough for C2 to inline
     * everything it calls (inlining the 16 reductions here made the whole kernel 20x slower).
     */
    private static void kernel4x4(float[] xp, int xo, float[] wp, int wo, int kv, float[] acc, float[] out, int t0, int rows,
                                  int n0, int n, boolean accumulate) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < kv; i++) {
            int xi = xo + i * 4 * VL, wi = wo + i * 4 * VL;
            FloatVector x0 = FloatVector.fromArray(F, xp, xi);
            FloatVector x1 = FloatVector.fromArray(F, xp, xi + VL);
            FloatVector x2 = FloatVector.fromArray(F, xp, xi + 2 * VL);
            FloatVector x3 = FloatVector.fromArray(F, xp, xi + 3 * VL);
            FloatVector w = FloatVector.fromArray(F, wp, wi);
            a00 = x0.fma(w, a00);
            a10 = x1.fma(w, a10);
            a20 = x2.fma(w, a20);
            a30 = x3.fma(w, a30);
            w = FloatVector.fromArray(F, wp, wi + VL);
            a01 = x0.fma(w, a01);
            a11 = x1.fma(w, a11);
            a21 = x2.fma(w, a21);
            a31 = x3.fma(w, a31);
            w = FloatVector.fromArray(F, wp, wi + 2 * VL);
            a02 = x0.fma(w, a02);
            a12 = x1.fma(w, a12);
            a22 = x2.fma(w, a22);
            a32 = x3.fma(w, a32);
            w = FloatVector.fromArray(F, wp, wi + 3 * VL);
            a03 = x0.fma(w, a03);
            a13 = x1.fma(w, a13);
            a23 = x2.fma(w, a23);
            a33 = x3.fma(w, a33);
        }
        a00.intoArray(acc, 0);
        a01.intoArray(acc, VL);
        a02.intoArray(acc, 2 * VL);
        a03.intoArray(acc, 3 * VL);
        a10.intoArray(acc, 4 * VL);
        a11.intoArray(acc, 5 * VL);
        a12.intoArray(acc, 6 * VL);
        a13.intoArray(acc, 7 * VL);
        a20.intoArray(acc, 8 * VL);
        a21.intoArray(acc, 9 * VL);
        a22.intoArray(acc, 10 * VL);
        a23.intoArray(acc, 11 * VL);
        a30.intoArray(acc, 12 * VL);
        a31.intoArray(acc, 13 * VL);
        a32.intoArray(acc, 14 * VL);
        a33.intoArray(acc, 15 * VL);
        sums(acc, out, t0, Math.min(4, rows - t0), n0, Math.min(4, n - n0), n, accumulate);
    }

    /** out[t0 + r, n0 + c] (+)= the lanes of accumulator (r, c) in acc ([4][4][VL]), for the rows/cols that exist. */
    private static void sums(float[] acc, float[] out, int t0, int rows, int n0, int cols, int n, boolean accumulate) {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int o = (t0 + r) * n + n0 + c;
                float s = Vec.sum(FloatVector.fromArray(F, acc, (4 * r + c) * VL));
                out[o] = accumulate ? out[o] + s : s;
            }
    }

    // ---------------------------------------------------------------- GEMV

    /**
     * One token row: bound by memory bandwidth, so weights are widened in registers as they stream in. Each thread
     * reads four rows at a time that lie a quarter of its share apart: four distant streams keep more DRAM pages
     * busy than four adjacent rows (measured here: ~33 GB/s against ~26 GB/s for one stream per thread).
     */
    static void gemv(float[] out, float[] x, Tensor w, Parallel par) {
        int n = w.rows();
        float[] xs = w.type() == DType.F16 && FINITE_F16.containsKey(w) ? scaledForF16(x) : null;
        AtomicBoolean special = new AtomicBoolean();
        par.forRange(n, 64, (lo, hi) -> {
            float[] acc = new float[4 * VL];
            int[] rows = new int[4];
            int q = (hi - lo + 3) / 4;
            for (int i = 0; i < q; i++) {
                int m = 0;
                for (int c = 0; c < 4; c++) if (lo + c * q + i < hi) rows[m++] = lo + c * q + i;
                for (int c = m; c < 4; c++) rows[c] = rows[0]; // computed again, not stored
                dot4(w, x, xs, rows, m, acc, out, special);
            }
        });
        if (w.type() == DType.F16 && xs == null && !special.get()) FINITE_F16.put(w, Boolean.TRUE);
    }

    /**
     * F16 tensors in which a whole GEMV found no inf or NaN. Weights never change once loaded, so later GEMVs over
     * them skip the tracking of specials and the f16 rebias (see {@link #scaledForF16}). Weak keys: a closed model's
     * tensors leave with it; a record key compares its shape array by identity, so only the same tensor matches.
     */
    private static final Map<Tensor, Boolean> FINITE_F16 = Collections.synchronizedMap(new WeakHashMap<>());

    /** Whether GEMVs over w take the F16 path without checks (for tests). */
    static boolean knownFiniteF16(Tensor w) {
        return FINITE_F16.containsKey(w);
    }

    /**
     * x * 2^112, or null when that would overflow (|x| >= 2^16). An f16 weight's bits shifted into f32 position
     * without rebias are w * 2^-112 exactly, so fma(those bits, x * 2^112, acc) == fma(w, x, acc) bit for bit, one
     * multiply per weight fewer.
     */
    private static float[] scaledForF16(float[] x) {
        float[] xs = new float[x.length];
        FloatVector max = FloatVector.zero(F);
        int i = 0;
        for (int end = F.loopBound(x.length); i < end; i += VL) {
            FloatVector v = FloatVector.fromArray(F, x, i);
            max = max.max(v.abs());
            v.mul(0x1p112f).intoArray(xs, i);
        }
        float most = max.reduceLanes(VectorOperators.MAX);
        for (; i < x.length; i++) {
            most = Math.max(most, Math.abs(x[i]));
            xs[i] = x[i] * 0x1p112f;
        }
        return most < 0x1p16f ? xs : null; // a NaN in x fails this too: the plain path then gives the NaN
    }

    /**
     * out[rows[c]] = dot(x, w[rows[c]]) for c < m. F16: with xs (x * 2^112) the weights need no rebias and no check
     * for specials; without, inf/NaN seen set {@code special}.
     */
    private static void dot4(Tensor w, float[] x, float[] xs, int[] rows, int m, float[] acc, float[] out,
                             AtomicBoolean special) {
        MemorySegment s = w.data();
        int k = w.cols(), i = 0;
        long rb = w.rowBytes();
        long o0 = rb * rows[0], o1 = rb * rows[1], o2 = rb * rows[2], o3 = rb * rows[3];
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        switch (w.type()) {
            case F32 -> {
                for (; i + VL <= k; i += VL) {
                    FloatVector xv = FloatVector.fromArray(F, x, i);
                    a0 = f32(s, o0 + 4L * i).fma(xv, a0);
                    a1 = f32(s, o1 + 4L * i).fma(xv, a1);
                    a2 = f32(s, o2 + 4L * i).fma(xv, a2);
                    a3 = f32(s, o3 + 4L * i).fma(xv, a3);
                }
            }
            case BF16 -> {
                for (; i + VL <= k; i += VL) {
                    FloatVector xv = FloatVector.fromArray(F, x, i);
                    a0 = bf16(s, o0 + 2L * i).fma(xv, a0);
                    a1 = bf16(s, o1 + 2L * i).fma(xv, a1);
                    a2 = bf16(s, o2 + 2L * i).fma(xv, a2);
                    a3 = bf16(s, o3 + 2L * i).fma(xv, a3);
                }
            }
            case F16 -> {
                if (xs != null) {
                    for (; i + VL <= k; i += VL) {
                        FloatVector xv = FloatVector.fromArray(F, xs, i);
                        a0 = f16Unbiased(halves(s, o0 + 2L * i)).fma(xv, a0);
                        a1 = f16Unbiased(halves(s, o1 + 2L * i)).fma(xv, a1);
                        a2 = f16Unbiased(halves(s, o2 + 2L * i)).fma(xv, a2);
                        a3 = f16Unbiased(halves(s, o3 + 2L * i)).fma(xv, a3);
                    }
                    break;
                }
                // finite weights only (cheaper); the largest |f16| bits seen tell afterwards whether inf/NaN occurred
                IntVector seen = IntVector.zero(I);
                for (; i + VL <= k; i += VL) {
                    FloatVector xv = FloatVector.fromArray(F, x, i);
                    IntVector h0 = halves(s, o0 + 2L * i), h1 = halves(s, o1 + 2L * i);
                    IntVector h2 = halves(s, o2 + 2L * i), h3 = halves(s, o3 + 2L * i);
                    a0 = f16Finite(h0).fma(xv, a0);
                    a1 = f16Finite(h1).fma(xv, a1);
                    a2 = f16Finite(h2).fma(xv, a2);
                    a3 = f16Finite(h3).fma(xv, a3);
                    seen = seen.max(h0.and(0x7fff)).max(h1.and(0x7fff)).max(h2.and(0x7fff)).max(h3.and(0x7fff));
                }
                if (seen.reduceLanes(VectorOperators.MAX) >= 0x7c00) { // rare: redo these rows with inf/NaN handled
                    special.set(true);
                    a0 = a1 = a2 = a3 = FloatVector.zero(F);
                    for (i = 0; i + VL <= k; i += VL) {
                        FloatVector xv = FloatVector.fromArray(F, x, i);
                        a0 = f16(s, o0 + 2L * i).fma(xv, a0);
                        a1 = f16(s, o1 + 2L * i).fma(xv, a1);
                        a2 = f16(s, o2 + 2L * i).fma(xv, a2);
                        a3 = f16(s, o3 + 2L * i).fma(xv, a3);
                    }
                }
            }
            case Q8_0 -> {
                if (Q8_VECTORS) {
                    // each quant times its block scale (exact: 8-bit times 11-bit significands fit f32), then
                    // multiply-adds as for F32 weights: the few-row tile sums in this order too, and shares the
                    // widening between its rows
                    int blocks = k / 32;
                    for (int bi = 0; bi < blocks; bi++) { // block index and offsets linear: the bounds checks hoist
                        long b = 34L * bi;
                        int xi = 32 * bi;
                        FloatVector d0 = FloatVector.broadcast(F, scale(s, o0 + b));
                        FloatVector d1 = FloatVector.broadcast(F, scale(s, o1 + b));
                        FloatVector d2 = FloatVector.broadcast(F, scale(s, o2 + b));
                        FloatVector d3 = FloatVector.broadcast(F, scale(s, o3 + b));
                        for (int j = 0; j < 32; j += VL) {
                            FloatVector xv = FloatVector.fromArray(F, x, xi + j);
                            a0 = quants(s, o0 + b + 2 + j).mul(d0).fma(xv, a0);
                            a1 = quants(s, o1 + b + 2 + j).mul(d1).fma(xv, a1);
                            a2 = quants(s, o2 + b + 2 + j).mul(d2).fma(xv, a2);
                            a3 = quants(s, o3 + b + 2 + j).mul(d3).fma(xv, a3);
                        }
                    }
                    i = 32 * blocks;
                }
            }
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, VL);
        a2.intoArray(acc, 2 * VL);
        a3.intoArray(acc, 3 * VL);
        finish(acc, x, w, rows, m, i, out);
    }

    /** out[rows[c]] = lanes of accumulator c in acc + the elements [from, k) the vector loop did not reach. */
    private static void finish(float[] acc, float[] x, Tensor w, int[] rows, int m, int from, float[] out) {
        int k = w.cols();
        for (int c = 0; c < m; c++) {
            float sum = Vec.sum(FloatVector.fromArray(F, acc, c * VL));
            long base = rows[c] * w.rowBytes();
            for (int e = from; e < k; e++) sum += x[e] * scalar(w.type(), w.data(), base, e);
            out[rows[c]] = sum;
        }
    }

    private static float scale(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(I16, off));
    }

    // ---------------------------------------------------------------- weight conversion

    /**
     * Widens columns [k0, k0 + kc) of row {@code row} of {@code w} to f32: VL-float piece i goes to
     * dst[off + i * stride ..], the last piece zero-padded. For Q8_0, k0 is a multiple of 32.
     */
    static void convertRow(Tensor w, int row, int k0, int kc, float[] dst, int off, int stride) {
        MemorySegment s = w.data();
        int full = kc / VL, i = 0;
        long base = row * w.rowBytes();
        switch (w.type()) {
            case F32 -> {
                for (long p = base + 4L * k0; i < full; i++) f32(s, p + 4L * VL * i).intoArray(dst, off + i * stride);
            }
            case BF16 -> {
                for (long p = base + 2L * k0; i < full; i++) bf16(s, p + 2L * VL * i).intoArray(dst, off + i * stride);
            }
            case F16 -> {
                for (long p = base + 2L * k0; i < full; i++) f16(s, p + 2L * VL * i).intoArray(dst, off + i * stride);
            }
            case Q8_0 -> {
                if (Q8_VECTORS) {
                    int per = 32 / VL;
                    for (int b = 0; b < kc / 32; b++) {
                        long p = base + 34L * (k0 / 32 + b);
                        float d = scale(s, p);
                        for (int j = 0; j < per; j++, i++) q8(s, p + 2 + (long) VL * j, d).intoArray(dst, off + i * stride);
                    }
                }
            }
        }
        // the tail (and any shape the vector loops above do not cover) element by element, zero-padded
        for (int e = i * VL; e < kc; e += VL) {
            int o = off + (e / VL) * stride;
            for (int j = 0; j < VL; j++) dst[o + j] = e + j < kc ? scalar(w.type(), s, base, k0 + e + j) : 0f;
        }
    }

    /** One weight, for tails and references. */
    static float scalar(DType type, MemorySegment s, long rowBase, int e) {
        return switch (type) {
            case F32 -> s.get(F32, rowBase + 4L * e);
            case BF16 -> Float.intBitsToFloat(s.get(I16, rowBase + 2L * e) << 16);
            case F16 -> Float.float16ToFloat(s.get(I16, rowBase + 2L * e));
            case Q8_0 -> {
                long p = rowBase + 34L * (e / 32);
                yield Float.float16ToFloat(s.get(I16, p)) * s.get(ValueLayout.JAVA_BYTE, p + 2 + e % 32);
            }
        };
    }

    static FloatVector f32(MemorySegment s, long off) {
        return FloatVector.fromMemorySegment(F, s, off, LE);
    }

    /** bf16 is the top half of an f32: widen the 16-bit lanes and shift them up. */
    static FloatVector bf16(MemorySegment s, long off) {
        return ((IntVector) ShortVector.fromMemorySegment(S, s, off, LE).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * f16 to f32 with integer tricks: place sign, exponent and mantissa in f32 position (exponent still biased by
     * 15) and multiply by 2^112 to rebias. Subnormal f16 become f32 subnormals that the multiply normalises exactly.
     * Inf/NaN (exponent 31) would come out as large finite numbers, so they are patched with a blend.
     */
    static FloatVector f16(MemorySegment s, long off) {
        IntVector h = halves(s, off);
        FloatVector f = f16Finite(h);
        VectorMask<Integer> special = h.and(0x7c00).eq(0x7c00);
        if (special.anyTrue()) {
            IntVector inf = h.lanewise(VectorOperators.LSHL, 13).and(0x8fffe000).or(0x7f800000);
            // NaNs come out quiet, as Float.float16ToFloat (vcvtph2ps) gives them
            inf = inf.blend(inf.or(0x00400000), h.and(0x3ff).compare(VectorOperators.NE, 0));
            f = f.blend(inf.reinterpretAsFloats(), special.cast(F));
        }
        return f;
    }

    /** VL 16-bit values, sign-extended to int lanes. */
    private static IntVector halves(MemorySegment s, long off) {
        return (IntVector) ShortVector.fromMemorySegment(S, s, off, LE).convertShape(VectorOperators.S2I, I, 0);
    }

    /** f16 bits (sign-extended) to f32, right for every value but inf and NaN. */
    private static FloatVector f16Finite(IntVector h) {
        return f16Unbiased(h).mul(0x1p112f);
    }

    /** f16 bits (sign-extended) in f32 position, exponent still biased by 15: the value times 2^-112, exactly. */
    private static FloatVector f16Unbiased(IntVector h) {
        // sign extension put copies of the sign in bits 31..16; after << 13 bit 31 is the sign, 27..13 exp+mantissa
        return h.lanewise(VectorOperators.LSHL, 13).and(0x8fffe000).reinterpretAsFloats();
    }

    /** VL int8 quants times their block scale (exact: 8-bit times 11-bit significands fit f32). */
    static FloatVector q8(MemorySegment s, long off, float d) {
        return quants(s, off).mul(d);
    }

    /** VL int8 quants as floats. */
    private static FloatVector quants(MemorySegment s, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B, s, off, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int end = F.loopBound(n); i < end; i += F.length())
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        float s = Vec.sum(acc);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }
}
