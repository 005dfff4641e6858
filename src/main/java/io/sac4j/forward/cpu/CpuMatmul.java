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

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * out[t, n] = sum_k x[t, k] * w[n, k] for every weight type. Weights are read straight from the (mapped) tensor and
 * widened to f32 in registers; accumulation is f32.
 */
public final class CpuMatmul {
    static final VectorSpecies<Float> F = Vec.F;
    static final int VL = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** Whether a Q8_0 block (32 quants) splits into whole vectors that one byte load each can fill. */
    private static final boolean Q8_VECTORS = VL <= 32 && 32 % VL == 0 && B.length() == VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    private CpuMatmul() {
    }

    public static void matmul(float[] out, float[] x, int rows, Tensor w, Parallel par) {
        if (rows == 1) gemv(out, x, w, par);
        else gemm(out, x, rows, w, par);
    }

    // ---------------------------------------------------------------- GEMM

    static void gemm(float[] out, float[] x, int rows, Tensor w, Parallel par) {
        int n = w.rows(), k = w.cols(), kv = (k + VL - 1) / VL, tileFloats = kv * 4 * VL;
        int tiles = (rows + 3) / 4, wTiles = (n + 3) / 4;
        float[] xp = new float[tiles * tileFloats];
        par.forRange(tiles, 1, (lo, hi) -> {
            for (int t = lo; t < hi; t++)
                for (int c = 0; c < 4; c++)
                    if (4 * t + c < rows) packX(x, (4 * t + c) * k, k, xp, t * tileFloats + c * VL);
        });
        // weight tiles per block: a block of packed f32 weights stays in L2 while every token tile passes over it
        int block = Math.max(1, (256 * 1024) / (tileFloats * 4));
        par.forRange(wTiles, 1, (lo, hi) -> {
            float[] wp = new float[Math.min(block, hi - lo) * tileFloats];
            for (int b = lo; b < hi; b += block) {
                int bt = Math.min(block, hi - b);
                for (int j = 0; j < bt; j++)
                    for (int c = 0; c < 4; c++) {
                        int row = 4 * (b + j) + c, off = j * tileFloats + c * VL;
                        if (row < n) convertRow(w, row, wp, off, 4 * VL);
                        else zero(wp, off, kv, 4 * VL);
                    }
                for (int t = 0; t < tiles; t++)
                    for (int j = 0; j < bt; j++)
                        kernel4x4(xp, t * tileFloats, wp, j * tileFloats, kv, out, 4 * t, rows, 4 * (b + j), n);
            }
        });
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
     * loads 8 vectors for 16 FMAs. The 16 accumulators must stay locals (an array of vectors is 20x slower).
     */
    private static void kernel4x4(float[] xp, int xo, float[] wp, int wo, int kv, float[] out, int t0, int rows, int n0, int n) {
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
        store(out, t0, rows, n0, n, a00, a01, a02, a03);
        store(out, t0 + 1, rows, n0, n, a10, a11, a12, a13);
        store(out, t0 + 2, rows, n0, n, a20, a21, a22, a23);
        store(out, t0 + 3, rows, n0, n, a30, a31, a32, a33);
    }

    private static void store(float[] out, int t, int rows, int n0, int n, FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3) {
        if (t >= rows) return;
        int o = t * n + n0;
        out[o] = Vec.sum(a0);
        if (n0 + 1 < n) out[o + 1] = Vec.sum(a1);
        if (n0 + 2 < n) out[o + 2] = Vec.sum(a2);
        if (n0 + 3 < n) out[o + 3] = Vec.sum(a3);
    }

    // ---------------------------------------------------------------- GEMV

    /**
     * One token row: bound by memory bandwidth, so weights are widened in registers as they stream in, four rows
     * at a time sharing each load of x.
     */
    static void gemv(float[] out, float[] x, Tensor w, Parallel par) {
        int n = w.rows();
        par.forRange((n + 3) / 4, 16, (lo, hi) -> {
            for (int t = lo; t < hi; t++) dot4(w, x, 4 * t, n, out);
        });
    }

    /** out[n0 + c] = dot(x, w[n0 + c]) for c < 4 (rows past n repeat row n-1 and are not stored). */
    private static void dot4(Tensor w, float[] x, int n0, int n, float[] out) {
        MemorySegment s = w.data();
        int k = w.cols(), i = 0;
        long rb = w.rowBytes();
        long o0 = rb * n0, o1 = rb * Math.min(n0 + 1, n - 1), o2 = rb * Math.min(n0 + 2, n - 1), o3 = rb * Math.min(n0 + 3, n - 1);
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
                for (; i + VL <= k; i += VL) {
                    FloatVector xv = FloatVector.fromArray(F, x, i);
                    a0 = f16(s, o0 + 2L * i).fma(xv, a0);
                    a1 = f16(s, o1 + 2L * i).fma(xv, a1);
                    a2 = f16(s, o2 + 2L * i).fma(xv, a2);
                    a3 = f16(s, o3 + 2L * i).fma(xv, a3);
                }
            }
            case Q8_0 -> {
                if (Q8_VECTORS) {
                    for (; i + 32 <= k; i += 32) {
                        long b = 34L * (i / 32);
                        float d0 = scale(s, o0 + b), d1 = scale(s, o1 + b), d2 = scale(s, o2 + b), d3 = scale(s, o3 + b);
                        for (int j = 0; j < 32; j += VL) {
                            FloatVector xv = FloatVector.fromArray(F, x, i + j);
                            a0 = q8(s, o0 + b + 2 + j, d0).fma(xv, a0);
                            a1 = q8(s, o1 + b + 2 + j, d1).fma(xv, a1);
                            a2 = q8(s, o2 + b + 2 + j, d2).fma(xv, a2);
                            a3 = q8(s, o3 + b + 2 + j, d3).fma(xv, a3);
                        }
                    }
                }
            }
        }
        out[n0] = finish(a0, x, w, o0, i, k);
        if (n0 + 1 < n) out[n0 + 1] = finish(a1, x, w, o1, i, k);
        if (n0 + 2 < n) out[n0 + 2] = finish(a2, x, w, o2, i, k);
        if (n0 + 3 < n) out[n0 + 3] = finish(a3, x, w, o3, i, k);
    }

    /** Sum of the accumulator's lanes plus the elements [from, k) the vector loop did not reach. */
    private static float finish(FloatVector acc, float[] x, Tensor w, long rowBase, int from, int k) {
        float sum = Vec.sum(acc);
        for (int e = from; e < k; e++) sum += x[e] * scalar(w.type(), w.data(), rowBase, e);
        return sum;
    }

    private static float scale(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(I16, off));
    }

    // ---------------------------------------------------------------- weight conversion

    /**
     * Widens row {@code row} of {@code w} to f32: VL-float piece i goes to dst[off + i * stride ..], the last piece
     * zero-padded.
     */
    static void convertRow(Tensor w, int row, float[] dst, int off, int stride) {
        MemorySegment s = w.data();
        int k = w.cols(), full = k / VL, i = 0;
        long base = row * w.rowBytes();
        switch (w.type()) {
            case F32 -> {
                for (; i < full; i++) f32(s, base + 4L * VL * i).intoArray(dst, off + i * stride);
            }
            case BF16 -> {
                for (; i < full; i++) bf16(s, base + 2L * VL * i).intoArray(dst, off + i * stride);
            }
            case F16 -> {
                for (; i < full; i++) f16(s, base + 2L * VL * i).intoArray(dst, off + i * stride);
            }
            case Q8_0 -> {
                if (Q8_VECTORS) {
                    int per = 32 / VL;
                    for (int b = 0; b < k / 32; b++) {
                        long p = base + 34L * b;
                        float d = Float.float16ToFloat(s.get(I16, p));
                        for (int j = 0; j < per; j++, i++) q8(s, p + 2 + (long) VL * j, d).intoArray(dst, off + i * stride);
                    }
                }
            }
        }
        // the tail (and any shape the vector loops above do not cover) element by element, zero-padded
        for (int e = i * VL; e < k; e += VL) {
            int o = off + (e / VL) * stride;
            for (int j = 0; j < VL; j++) dst[o + j] = e + j < k ? scalar(w.type(), s, base, e + j) : 0f;
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
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, s, off, LE).convertShape(VectorOperators.S2I, I, 0);
        // sign extension put copies of the sign in bits 31..16; after << 13 bit 31 is the sign, 27..13 exp+mantissa
        IntVector bits = h.lanewise(VectorOperators.LSHL, 13).and(0x8fffe000);
        FloatVector f = bits.reinterpretAsFloats().mul(0x1p112f);
        VectorMask<Integer> special = h.and(0x7c00).eq(0x7c00);
        if (special.anyTrue()) {
            IntVector inf = bits.or(0x7f800000);
            // NaNs come out quiet, as Float.float16ToFloat (vcvtph2ps) gives them
            inf = inf.blend(inf.or(0x00400000), h.and(0x3ff).compare(VectorOperators.NE, 0));
            f = f.blend(inf.reinterpretAsFloats(), special.cast(F));
        }
        return f;
    }

    /** VL int8 quants times their block scale (exact: 8-bit times 11-bit significands fit f32). */
    static FloatVector q8(MemorySegment s, long off, float d) {
        return ((FloatVector) ByteVector.fromMemorySegment(B, s, off, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d);
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
