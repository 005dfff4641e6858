package io.sac4j.forward.cpu;

import io.sac4j.forward.Buf;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Mask;
import io.sac4j.forward.Rope;
import io.sac4j.load.DType;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.SyntheticModel;
import io.sac4j.load.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every CPU op against a naive double-precision reference written here, in the style of ggml's test-backend-ops:
 * odd shapes (rows, widths and head sizes that are not multiples of the vector length or the 4 x 4 tiles), every
 * weight type, the GEMV (1 row) and GEMM paths, 1 and 2 threads, and an error measure normalised per op
 * (NMSE = sum (got - want)^2 / sum want^2). Weights are dequantised for the reference by {@link Tensor#readRow},
 * which is separate scalar code. Results must also be bit-identical between 1 and 2 threads (work is split by
 * output rows, never by the reduction).
 */
class CpuKernelsTest {
    /** f32 accumulation error over the widths used here stays below ~1e-12; any wrong element gives > 1e-6. */
    private static final double MAX_NMSE = 1e-10;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Arena ARENA = Arena.ofShared();
    private static final CpuBackend ONE = new CpuBackend(1), TWO = new CpuBackend(2);

    @AfterAll
    static void close() {
        ONE.close();
        TWO.close();
        ARENA.close();
    }

    // ------------------------------------------------------------------ helpers

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    private static Buf buf(CpuBackend be, int rows, int cols, float[] data) {
        Buf b = be.alloc(rows, cols);
        be.write(b, data);
        return b;
    }

    private static float[] host(Buf b) {
        return ((CpuBuf) b).data().clone();
    }

    private static double nmse(float[] got, double[] want) {
        assertEquals(want.length, got.length, "length");
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            double d = got[i] - want[i];
            num += d * d;
            den += want[i] * want[i];
        }
        return den == 0 ? num : num / den;
    }

    private static void assertClose(String what, float[] got, double[] want) {
        double e = nmse(got, want);
        assertTrue(e <= MAX_NMSE, what + ": NMSE " + e + " > " + MAX_NMSE);
    }

    /** Runs op on both backends, checks the results are identical, and returns the 1-thread result. */
    private static float[] bothThreads(String what, java.util.function.Function<CpuBackend, float[]> op) {
        float[] one = op.apply(ONE), two = op.apply(TWO);
        assertArrayEquals(one, two, what + ": 1 and 2 threads differ");
        return one;
    }

    // ------------------------------------------------------------------ matmul

    /** rows x n x k: GEMV (rows 1), partial 4 x 4 tiles, widths off the vector length, several weight blocks. */
    private static final int[][] SHAPES = {
            {1, 1, 32}, {1, 7, 64}, {1, 37, 96}, {1, 301, 1024}, {2, 5, 32}, {3, 9, 160}, {5, 13, 64},
            {17, 6, 96}, {4, 4, 32}, {9, 77, 1024}, {33, 129, 320}, {6, 10, 2080}, {1, 9, 4160},
            {64, 5, 64}, {65, 7, 96}, {130, 9, 2080}}; // up to 64 rows: CpuMatmul.gemmFew; above: gemm
    /** Extra widths (not multiples of 32) for the plain float types. */
    private static final int[][] ODD_SHAPES = {{1, 3, 1}, {1, 5, 17}, {1, 9, 100}, {3, 2, 15}, {6, 11, 33}, {7, 77, 1000}, {5, 7, 2061}};

    @ParameterizedTest
    @EnumSource(DType.class)
    void matmulMatchesReference(DType type) {
        long seed = 10;
        for (int[][] set : new int[][][]{SHAPES, ODD_SHAPES}) {
            if (set == ODD_SHAPES && type == DType.Q8_0) continue;
            for (int[] s : set) {
                int rows = s[0], n = s[1], k = s[2];
                Tensor w = SyntheticModel.tensor(ARENA, "w", type, n, k, seed++, 0f, 0.5f);
                float[] x = random(rows * k, seed++);
                String what = type + " " + rows + "x" + n + "x" + k;
                float[] got = bothThreads(what, be -> {
                    Buf out = be.alloc(rows, n);
                    be.matmul(out, buf(be, rows, k, x), w);
                    return host(out);
                });
                assertClose(what, got, referenceMatmul(x, rows, w));
            }
        }
    }

    /**
     * Up to CpuMatmul.EXACT_ROWS rows of any type (up to FEW_ROWS here, where Q8_0 blocks split into whole vectors),
     * each row's result is the one the GEMV gives that row alone, bit for bit: what makes answers decoded together
     * equal answers decoded alone. Widths off the vector length check the tails; n = 6 leaves a partial weight tile.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void fewRowsEqualTheGemvOfEachRow(DType type) {
        int[] widths = type == DType.Q8_0 ? new int[]{32, 96, 2080} : new int[]{16, 40, 172, 2061};
        int most = type == DType.Q8_0 && !CpuMatmul.Q8_VECTORS ? CpuMatmul.EXACT_ROWS : CpuMatmul.FEW_ROWS;
        long seed = 900;
        for (int k : widths)
            for (int rows : new int[]{2, 3, 5, CpuMatmul.EXACT_ROWS, most}) {
                int n = 6;
                Tensor w = SyntheticModel.tensor(ARENA, "w", type, n, k, seed++, 0f, 0.5f);
                float[] x = random(rows * k, seed++);
                Buf out = TWO.alloc(rows, n);
                TWO.matmul(out, buf(TWO, rows, k, x), w);
                float[] all = host(out);
                for (int t = 0; t < rows; t++) {
                    Buf one = TWO.alloc(1, n);
                    TWO.matmul(one, buf(TWO, 1, k, java.util.Arrays.copyOfRange(x, t * k, (t + 1) * k)), w);
                    assertArrayEquals(host(one), java.util.Arrays.copyOfRange(all, t * n, (t + 1) * n),
                            type + " " + rows + "x" + n + "x" + k + ": row " + t + " differs from its GEMV");
                }
            }
    }

    private static double[] referenceMatmul(float[] x, int rows, Tensor w) {
        int n = w.rows(), k = w.cols();
        float[] row = new float[k];
        double[] out = new double[rows * n];
        for (int j = 0; j < n; j++) {
            w.readRow(j, row, 0);
            for (int t = 0; t < rows; t++) {
                double s = 0;
                for (int i = 0; i < k; i++) s += (double) x[t * k + i] * row[i];
                out[t * n + j] = s;
            }
        }
        return out;
    }

    /** Every one of the 65536 f16 (and bf16) bit patterns widens exactly, NaN payloads, subnormals and -0 included. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16"})
    void halfPrecisionConversionIsExactForEveryBitPattern(DType type) {
        int n = 65536;
        MemorySegment seg = ARENA.allocate(2L * n);
        for (int i = 0; i < n; i++) seg.set(I16, 2L * i, (short) i);
        Tensor w = new Tensor("all", type, new long[]{1, n}, seg);
        float[] got = new float[n + CpuMatmul.VL];
        CpuMatmul.convertRow(w, 0, 0, n, got, 0, CpuMatmul.VL);
        for (int i = 0; i < n; i++) {
            float want = type == DType.F16 ? Float.float16ToFloat((short) i) : Float.intBitsToFloat(i << 16);
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(want))
                fail(type + " bits 0x" + Integer.toHexString(i) + ": got " + got[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(got[i]))
                        + "), want " + want + " (0x" + Integer.toHexString(Float.floatToRawIntBits(want)) + ")");
        }
    }

    /** Inf and NaN weights reach the output on both paths (they are rare, but must not turn into large finite numbers). */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void f16InfinityAndNanPropagate(int rows) {
        int k = 48;
        MemorySegment seg = ARENA.allocate(2L * 3 * k);
        for (int i = 0; i < 3 * k; i++) seg.set(I16, 2L * i, Float.floatToFloat16(0.25f));
        seg.set(I16, 2L * 5, (short) 0x7c00);          // row 0: +inf
        seg.set(I16, 2L * (k + 40), (short) 0xfc00);   // row 1: -inf
        seg.set(I16, 2L * (2 * k + 17), (short) 0x7e00); // row 2: NaN
        Tensor w = new Tensor("special", DType.F16, new long[]{3, k}, seg);
        float[] x = new float[rows * k];
        java.util.Arrays.fill(x, 1f);
        Buf out = TWO.alloc(rows, 3);
        TWO.matmul(out, buf(TWO, rows, k, x), w);
        float[] o = host(out);
        for (int t = 0; t < rows; t++) {
            assertEquals(Float.POSITIVE_INFINITY, o[t * 3], "row " + t);
            assertEquals(Float.NEGATIVE_INFINITY, o[t * 3 + 1], "row " + t);
            assertTrue(Float.isNaN(o[t * 3 + 2]), "row " + t);
        }
    }

    /**
     * The F16 GEMV's first pass over a tensor checks for inf/NaN; once a whole pass found none, later passes skip the
     * checks and the rebias (x scaled by 2^112 instead). Both give the same bits, subnormal, zero and largest weights
     * included; an x too large to scale takes the checked path; a tensor with a special is never marked.
     */
    @Test
    void f16GemvWithoutChecksEqualsTheCheckedOne() {
        int n = 37, k = 2048 + 5;
        MemorySegment seg = ARENA.allocate(2L * n * k);
        SplittableRandom r = new SplittableRandom(16);
        for (int i = 0; i < n * k; i++) {
            int bits = switch (i % 11) {
                case 0 -> r.nextInt(1, 0x400);     // subnormal
                case 1 -> 0x7bff;                  // largest finite
                case 2 -> 0x8000;                  // -0
                default -> r.nextInt(0, 0x7c00);   // any finite magnitude
            };
            seg.set(I16, 2L * i, (short) (bits | (r.nextBoolean() ? 0x8000 : 0)));
        }
        Tensor w = new Tensor("f16", DType.F16, new long[]{n, k}, seg);
        float[] x = random(k, 5), big = x.clone();
        big[7] = 70000f; // x * 2^112 would overflow
        assertFalse(CpuMatmul.knownFiniteF16(w));
        float[] checkedBig = gemv(w, big);
        assertTrue(CpuMatmul.knownFiniteF16(w), "a pass without specials marks the tensor");
        assertArrayEquals(checkedBig, gemv(w, big), "an x too large to scale takes the checked path");
        // a tensor of the same bits, not yet marked (a new record: its shape array differs), runs checked
        for (float x3 : new float[]{x[3], 60000f}) {
            x[3] = x3;
            Tensor fresh = new Tensor("f16", DType.F16, new long[]{n, k}, seg);
            assertArrayEquals(gemv(fresh, x), gemv(w, x), "x[3] = " + x3);
        }
        MemorySegment withInf = ARENA.allocate(seg.byteSize()).copyFrom(seg);
        withInf.set(I16, 2L * (5 * k + 9), (short) 0x7c00);
        Tensor inf = new Tensor("inf", DType.F16, new long[]{n, k}, withInf);
        gemv(inf, x);
        assertFalse(CpuMatmul.knownFiniteF16(inf));
        assertEquals(Float.POSITIVE_INFINITY, Math.abs(gemv(inf, x)[5]));
    }

    private static float[] gemv(Tensor w, float[] x) {
        Buf out = TWO.alloc(1, w.rows());
        TWO.matmul(out, buf(TWO, 1, w.cols(), x), w);
        return host(out);
    }

    /** Q8_0 blocks with extreme quants (-128, 127), a subnormal f16 scale and a zero scale. */
    @Test
    void q8ExtremesMatchDequantisation() {
        int n = 5, k = 96;
        MemorySegment seg = ARENA.allocate(DType.Q8_0.bytes((long) n * k));
        SplittableRandom r = new SplittableRandom(3);
        for (int b = 0; b < n * k / 32; b++) {
            short d = switch (b % 4) {
                case 0 -> Float.floatToFloat16(0.01f);
                case 1 -> (short) 0x0003; // subnormal
                case 2 -> 0;
                default -> Float.floatToFloat16(-3.5f);
            };
            seg.set(I16, 34L * b, d);
            for (int j = 0; j < 32; j++)
                seg.set(ValueLayout.JAVA_BYTE, 34L * b + 2 + j, (byte) (j == 0 ? -128 : j == 1 ? 127 : r.nextInt(-128, 128)));
        }
        Tensor w = new Tensor("q", DType.Q8_0, new long[]{n, k}, seg);
        for (int rows : new int[]{1, 6, 70}) { // GEMV, few-row tile, GEMM
            float[] x = random(rows * k, rows);
            Buf out = TWO.alloc(rows, n);
            TWO.matmul(out, buf(TWO, rows, k, x), w);
            assertClose("q8 extremes rows " + rows, host(out), referenceMatmul(x, rows, w));
        }
    }

    /** The vector exp used by softmax and SiLU: within 2 ulp of Math.exp from underflow to overflow, specials exact. */
    @Test
    void vectorExpIsAccurateEverywhere() {
        int vl = Vec.VL;
        float[] xs = new float[200_000 + 8];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 200_000; i++) xs[i] = (float) (r.nextDouble() * 200 - 105); // -105 .. 95
        float[] special = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 0f, -0f, 88.72f, 88.73f, -87.5f};
        System.arraycopy(special, 0, xs, 200_000, special.length);
        float[] got = new float[(xs.length + vl - 1) / vl * vl];
        for (int i = 0; i < xs.length; i += vl)
            Vec.exp(jdk.incubator.vector.FloatVector.fromArray(Vec.F, xs, i, Vec.F.indexInRange(i, xs.length))).intoArray(got, i, Vec.F.indexInRange(i, xs.length));
        for (int i = 0; i < xs.length; i++) {
            float want = (float) Math.exp(xs[i]);
            if (Float.isNaN(want) || Float.isInfinite(want) || want == 0) {
                assertEquals(want, got[i], "exp(" + xs[i] + ")");
                continue;
            }
            // below the normal range the result has fewer bits, so allow one unit of the smallest normal's ulp
            double tol = 2 * Math.max(Math.ulp(want), Math.ulp(Float.MIN_NORMAL));
            assertTrue(Math.abs(got[i] - want) <= tol, "exp(" + xs[i] + "): " + got[i] + " vs " + want);
        }
    }

    // ------------------------------------------------------------------ element-wise ops

    @ParameterizedTest
    @ValueSource(ints = {1, 16, 17, 64, 100})
    void rmsNormMatchesReference(int d) {
        int rows = 5;
        float eps = 1e-5f;
        float[] x = random(rows * d, d);
        Tensor g = SyntheticModel.tensor(ARENA, "g", DType.F32, 1, d, d, 1f, 0.3f);
        float[] gain = g.toFloats();
        double[] want = new double[rows * d];
        for (int t = 0; t < rows; t++) {
            double ss = 0;
            for (int i = 0; i < d; i++) ss += (double) x[t * d + i] * x[t * d + i];
            double scale = 1 / Math.sqrt(ss / d + eps);
            for (int i = 0; i < d; i++) want[t * d + i] = x[t * d + i] * scale * gain[i];
        }
        float[] got = bothThreads("rmsnorm " + d, be -> {
            Buf out = be.alloc(rows, d);
            be.rmsNorm(out, buf(be, rows, d, x), g, eps);
            return host(out);
        });
        assertClose("rmsnorm " + d, got, want);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 15, 16, 33, 1000})
    void swigluAndAddMatchReference(int cols) {
        int rows = 3;
        float[] g = random(rows * cols, 1), u = random(rows * cols, 2);
        for (int i = 0; i < g.length; i += 7) g[i] *= 30; // saturate the sigmoid both ways
        double[] want = new double[g.length], sum = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            want[i] = g[i] / (1 + Math.exp(-(double) g[i])) * u[i];
            sum[i] = (double) g[i] + u[i];
        }
        float[] got = bothThreads("swiglu", be -> {
            Buf gb = buf(be, rows, cols, g);
            be.swiglu(gb, buf(be, rows, cols, u));
            return host(gb);
        });
        assertClose("swiglu " + cols, got, want);
        float[] added = bothThreads("add", be -> {
            Buf xb = buf(be, rows, cols, g);
            be.add(xb, buf(be, rows, cols, u));
            return host(xb);
        });
        assertClose("add " + cols, added, sum);
    }

    @ParameterizedTest
    @EnumSource(ModelConfig.RopeStyle.class)
    void ropeMatchesReference(ModelConfig.RopeStyle style) {
        for (int hd : new int[]{2, 6, 16, 64, 96}) {
            ModelConfig c = new ModelConfig("llama", 8 * hd, 32, 1, 3, 1, hd, 32, 4096, 1e-5f, 10000f, style, null,
                    false, false, -1, new int[0]);
            int rows = 5, heads = 3, d = heads * hd;
            int[] pos = {0, 1, 7, 300, 4095};
            Rope.Table table = new Rope(c).table(pos);
            float[] x = random(rows * d, hd);
            double[] want = new double[x.length];
            for (int t = 0; t < rows; t++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < hd / 2; i++) {
                        int o = t * d + h * hd;
                        int a = style == ModelConfig.RopeStyle.ADJACENT ? o + 2 * i : o + i;
                        int b = style == ModelConfig.RopeStyle.ADJACENT ? a + 1 : a + hd / 2;
                        double cs = table.cos()[t * hd / 2 + i], sn = table.sin()[t * hd / 2 + i];
                        want[a] = x[a] * cs - x[b] * sn;
                        want[b] = x[a] * sn + x[b] * cs;
                    }
            float[] got = bothThreads("rope", be -> {
                Buf xb = buf(be, rows, d, x);
                be.rope(xb, heads, table);
                return host(xb);
            });
            assertClose("rope " + style + " head dim " + hd, got, want);
        }
    }

    @Test
    void embedCopiesRowsOfEveryType() {
        for (DType type : DType.values()) {
            Tensor table = SyntheticModel.tensor(ARENA, "emb", type, 11, 64, 4, 0f, 1f);
            int[] tokens = {3, 0, 10, 3};
            Buf out = TWO.alloc(tokens.length, 64);
            TWO.embed(out, table, tokens);
            double[] want = new double[tokens.length * 64];
            float[] row = new float[64];
            for (int t = 0; t < tokens.length; t++) {
                table.readRow(tokens[t], row, 0);
                for (int i = 0; i < 64; i++) want[t * 64 + i] = row[i];
            }
            assertEquals(0, nmse(host(out), want), type.toString());
        }
    }

    /** SAC's anchor rows get their role vectors, every other row stays as it was; misuse names the problem. */
    @Test
    void roleAddAddsTheRoleOfEachAnchorRow() {
        Tensor roles = SyntheticModel.tensor(ARENA, "role_tokens", DType.F32, 6, 64, 5, 0f, 1f);
        float[] x = new float[9 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i);
        int[] rows = {7, 2, 4}, ids = {0, 5, 1};
        Buf b = buf(TWO, 9, 64, x);
        TWO.roleAdd(b, roles, rows, ids);
        float[] want = x.clone(), role = new float[64];
        for (int i = 0; i < rows.length; i++) {
            roles.readRow(ids[i], role, 0);
            for (int d = 0; d < 64; d++) want[rows[i] * 64 + d] += role[d];
        }
        assertArrayEquals(want, host(b));
        var e = assertThrows(IllegalArgumentException.class, () -> TWO.roleAdd(b, roles, new int[]{2, 2}, new int[]{0, 1}));
        assertEquals("anchor row 2 appears twice", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TWO.roleAdd(b, roles, new int[]{9}, new int[]{0}));
        assertThrows(IllegalArgumentException.class, () -> TWO.roleAdd(b, roles, new int[]{1}, new int[]{6}));
        assertArrayEquals(want, host(b), "a refused call changes nothing");
    }

    // ------------------------------------------------------------------ attention

    private static ModelConfig attnConfig(int heads, int kvHeads, int hd) {
        return new ModelConfig("llama", heads * hd, 32, 1, heads, kvHeads, hd, 32, 4096, 1e-5f, 10000f,
                ModelConfig.RopeStyle.HALVES, null, false, false, -1, new int[0]);
    }

    /**
     * Reference attention in double: row r (cache index start + r) sees key j when the mask kind allows it,
     * decided here from the kinds' definitions rather than from {@link Mask#lo}/{@link Mask#hi}.
     */
    private static double[] referenceAttention(float[] q, float[] keys, float[] values, int rows, int start,
                                                Mask mask, ModelConfig c) {
        int heads = c.nHeads(), hd = c.headDim(), kvDim = c.kvDim(), group = heads / c.nKvHeads();
        double[] out = new double[rows * heads * hd];
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++) {
                int kvOff = (h / group) * hd, qOff = r * heads * hd + h * hd;
                double[] sc = new double[start + rows];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < start + rows; j++) {
                    boolean visible = switch (mask.kind()) {
                        case CAUSAL, PREFIX -> j <= start + r;
                        case BLOCKS -> j >= start && (j - start) / mask.blockSize() == r / mask.blockSize();
                    };
                    if (!visible) {
                        sc[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double) q[qOff + d] * keys[j * kvDim + kvOff + d];
                    sc[j] = s / Math.sqrt(hd);
                    max = Math.max(max, sc[j]);
                }
                double sum = 0;
                for (int j = 0; j < sc.length; j++) sum += sc[j] = Math.exp(sc[j] - max);
                for (int j = 0; j < sc.length; j++)
                    for (int d = 0; d < hd; d++) out[qOff + d] += sc[j] / sum * values[j * kvDim + kvOff + d];
            }
        return out;
    }

    /** {heads, kvHeads, headDim}: grouped-query (4 and 3 per group), multi-head, head sizes off the vector length. */
    private static final int[][] HEADS = {{8, 2, 16}, {6, 2, 24}, {3, 3, 64}, {4, 1, 6}, {2, 2, 80}};

    /** A prefill, then decode rows one at a time, over an empty cache: every path of the causal mask. */
    @Test
    void causalPrefillAndDecodeMatchReference() {
        for (int[] hs : HEADS) {
            ModelConfig c = attnConfig(hs[0], hs[1], hs[2]);
            for (int prefill : new int[]{1, 7, 70, 150}) {
                int decode = 3, total = prefill + decode;
                float[] q = random(total * c.qDim(), 1), k = random(total * c.kvDim(), 2), v = random(total * c.kvDim(), 3);
                double[] want = referenceAttention(q, k, v, total, 0, Mask.causal(), c);
                float[] got = bothThreads("causal", be -> {
                    KvCache cache = be.newCache(c, total, null);
                    float[] out = new float[total * c.qDim()];
                    int at = 0;
                    for (int n : new int[]{prefill, 1, 1, 1}) {
                        float[] o = attend(be, cache, c, q, k, v, at, n, Mask.causal());
                        System.arraycopy(o, 0, out, at * c.qDim(), o.length);
                        cache.advance(n);
                        at += n;
                    }
                    return out;
                });
                assertClose("causal " + java.util.Arrays.toString(hs) + " prefill " + prefill, got, want);
            }
        }
    }

    /** Runs rows [at, at+n) of q/k/v through attention on {@code cache} (layer 0). */
    private static float[] attend(CpuBackend be, KvCache cache, ModelConfig c, float[] q, float[] k, float[] v,
                                  int at, int n, Mask mask) {
        Buf qb = buf(be, n, c.qDim(), java.util.Arrays.copyOfRange(q, at * c.qDim(), (at + n) * c.qDim()));
        Buf kb = buf(be, n, c.kvDim(), java.util.Arrays.copyOfRange(k, at * c.kvDim(), (at + n) * c.kvDim()));
        Buf vb = buf(be, n, c.kvDim(), java.util.Arrays.copyOfRange(v, at * c.kvDim(), (at + n) * c.kvDim()));
        Buf out = be.alloc(n, c.qDim());
        be.attention(out, qb, kb, vb, cache, 0, mask, c);
        return host(out);
    }

    /** Bidirectional blocks (the SAC encoder): sizes that divide the rows, that do not, and larger than the rows. */
    @Test
    void blockMaskMatchesReference() {
        for (int[] hs : HEADS) {
            ModelConfig c = attnConfig(hs[0], hs[1], hs[2]);
            for (int[] rb : new int[][]{{12, 4}, {13, 5}, {100, 33}, {5, 8}, {130, 64}}) {
                int rows = rb[0];
                Mask mask = Mask.blocks(rb[1]);
                float[] q = random(rows * c.qDim(), 4), k = random(rows * c.kvDim(), 5), v = random(rows * c.kvDim(), 6);
                double[] want = referenceAttention(q, k, v, rows, 0, mask, c);
                float[] got = bothThreads("blocks", be -> attend(be, be.newCache(c, rows, null), c, q, k, v, 0, rows, mask));
                assertClose("blocks " + java.util.Arrays.toString(rb) + " heads " + java.util.Arrays.toString(hs), got, want);
            }
        }
    }

    /**
     * New rows over a shared read-only prefix (itself stacked on another prefix, so keys come from three
     * segments, each prefix with spare capacity), with the PREFIX, CAUSAL and BLOCKS masks; the prefixes must stay
     * untouched. The BLOCKS mask ignores the prefix.
     */
    @Test
    void masksOverPrefixCacheMatchReference() {
        for (int[] hs : HEADS) {
            ModelConfig c = attnConfig(hs[0], hs[1], hs[2]);
            int p1 = 37, p2 = 70, rows = 9, total = p1 + p2 + rows;
            float[] q = random(total * c.qDim(), 7), k = random(total * c.kvDim(), 8), v = random(total * c.kvDim(), 9);
            double[] all = referenceAttention(q, k, v, total, 0, Mask.causal(), c);
            for (Mask mask : new Mask[]{Mask.prefix(), Mask.causal(), Mask.blocks(4)}) {
                double[] want = referenceAttention(java.util.Arrays.copyOfRange(q, (p1 + p2) * c.qDim(), total * c.qDim()),
                        k, v, rows, p1 + p2, mask, c);
                float[] got = bothThreads("prefix", be -> {
                    KvCache base = be.newCache(c, p1 + 5, null); // spare capacity must not be read as keys
                    attend(be, base, c, q, k, v, 0, p1, Mask.causal());
                    base.advance(p1);
                    KvCache mid = be.newCache(c, p2 + 3, base);
                    float[] midOut = attend(be, mid, c, q, k, v, p1, p2, Mask.causal());
                    mid.advance(p2);
                    // the stacked prefix itself is right (causal over two segments)
                    assertClose("stacked prefix", midOut, java.util.Arrays.copyOfRange(all, p1 * c.qDim(), (p1 + p2) * c.qDim()));
                    float[] keys0 = ((CpuKvCache) base).k[0].clone(), keys1 = ((CpuKvCache) mid).k[0].clone();
                    KvCache top = be.newCache(c, rows, mid);
                    float[] out = attend(be, top, c, q, k, v, p1 + p2, rows, mask);
                    assertArrayEquals(keys0, ((CpuKvCache) base).k[0], "prefix changed");
                    assertArrayEquals(keys1, ((CpuKvCache) mid).k[0], "prefix changed");
                    return out;
                });
                assertClose(mask + " over prefix, heads " + java.util.Arrays.toString(hs), got, want);
            }
        }
    }

    /** Rows written through attention come back unchanged from ownRows, gather (across a prefix) and cacheOf. */
    @Test
    void cacheRowsRoundTrip() {
        ModelConfig c = attnConfig(6, 2, 24);
        int p = 21, rows = 19, kvDim = c.kvDim();
        float[] q = random((p + rows) * c.qDim(), 1), k = random((p + rows) * kvDim, 2), v = random((p + rows) * kvDim, 3);
        KvCache base = TWO.newCache(c, p, null);
        attend(TWO, base, c, q, k, v, 0, p, Mask.causal());
        base.advance(p);
        KvCache top = TWO.newCache(c, rows + 4, base);
        attend(TWO, top, c, q, k, v, p, rows, Mask.prefix());
        top.advance(rows);
        float[][] own = top.ownRows(0);
        assertArrayEquals(java.util.Arrays.copyOfRange(k, p * kvDim, (p + rows) * kvDim), own[0]);
        assertArrayEquals(java.util.Arrays.copyOfRange(v, p * kvDim, (p + rows) * kvDim), own[1]);
        int[] pick = {0, 5, 20, 21, 22, 39};
        KvCache g = TWO.gather(top, pick, c);
        assertEquals(pick.length, g.length());
        float[][] got = g.ownRows(0);
        for (int i = 0; i < pick.length; i++) {
            assertArrayEquals(java.util.Arrays.copyOfRange(k, pick[i] * kvDim, (pick[i] + 1) * kvDim),
                    java.util.Arrays.copyOfRange(got[0], i * kvDim, (i + 1) * kvDim), "key row " + pick[i]);
            assertArrayEquals(java.util.Arrays.copyOfRange(v, pick[i] * kvDim, (pick[i] + 1) * kvDim),
                    java.util.Arrays.copyOfRange(got[1], i * kvDim, (i + 1) * kvDim), "value row " + pick[i]);
        }
        float[][] again = TWO.cacheOf(new float[][]{got[0]}, new float[][]{got[1]}, c).ownRows(0);
        assertArrayEquals(got[0], again[0]);
        assertArrayEquals(got[1], again[1]);
    }

    @Test
    void prefixMaskWithoutPrefixIsRejected() {
        ModelConfig c = attnConfig(2, 2, 16);
        KvCache cache = TWO.newCache(c, 4, null);
        float[] z = new float[2 * c.qDim()];
        assertThrows(IllegalArgumentException.class, () -> attend(TWO, cache, c, z, z, z, 0, 2, Mask.prefix()));
    }

    // ------------------------------------------------------------------ whole forward pass

    /**
     * A small random model of each weight type: a 9-token prefill (GEMM path) and the same tokens fed one at a
     * time (GEMV path, decode attention) must give the same logits for every row, on 1 and 2 threads.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void prefillAndTokenByTokenDecodeAgree(DType type) {
        ModelConfig c = SyntheticModel.config(64, 96, 2, 4, 2, 16, 100);
        int[] tokens = {1, 17, 99, 4, 4, 63, 0, 28, 50};
        int n = tokens.length, vocab = c.vocabSize();
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = i;
        try (SyntheticModel m = SyntheticModel.create(c, type, 3)) {
            float[] prefill = bothThreads("prefill " + type, be -> new io.sac4j.forward.Llama(c, m.weights(), be)
                    .forward(tokens, positions, be.newCache(c, n, null), Mask.causal(), io.sac4j.forward.Logits.ALL));
            float[] stepwise = bothThreads("decode " + type, be -> {
                io.sac4j.forward.Llama llama = new io.sac4j.forward.Llama(c, m.weights(), be);
                KvCache cache = llama.newCache(n);
                float[] all = new float[n * vocab];
                for (int i = 0; i < n; i++) {
                    float[] row = llama.forward(new int[]{tokens[i]}, new int[]{i}, cache, Mask.causal(), io.sac4j.forward.Logits.LAST);
                    System.arraycopy(row, 0, all, i * vocab, vocab);
                }
                return all;
            });
            double[] want = new double[prefill.length];
            for (int i = 0; i < want.length; i++) want[i] = prefill[i];
            assertClose(type + " prefill vs decode", stepwise, want);
            for (float f : prefill) assertTrue(Float.isFinite(f));
        }
    }

    /**
     * Several sequences decoded together (Llama.decodeEach: one row per sequence, each with its own cache over a
     * shared prefix, as questions over one compressed context) give each row exactly the logits of that sequence
     * decoded alone, every weight type, up to CpuMatmul.EXACT_ROWS rows. The hidden width (100; 96 for Q8_0) is off
     * the vector length, and the sequences have different lengths, so tails and per-row positions are covered.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void decodingTogetherEqualsDecodingAlone(DType type) {
        ModelConfig c = SyntheticModel.config(64, type == DType.Q8_0 ? 96 : 100, 2, 4, 2, 16, 100);
        int vocab = c.vocabSize(), seqs = CpuMatmul.EXACT_ROWS;
        int[] context = {1, 5, 9, 33, 2, 71, 40, 12, 8, 3, 90};
        try (SyntheticModel m = SyntheticModel.create(c, type, 4)) {
            io.sac4j.forward.Llama llama = new io.sac4j.forward.Llama(c, m.weights(), TWO);
            KvCache prefix = llama.newCache(context.length);
            int[] cpos = new int[context.length];
            for (int i = 0; i < cpos.length; i++) cpos[i] = i;
            llama.forward(context, cpos, prefix, Mask.causal(), io.sac4j.forward.Logits.NONE);
            // each sequence: a prompt of 1 + s tokens after the prefix, then 3 steps
            KvCache[] together = new KvCache[seqs], alone = new KvCache[seqs];
            int[] next = new int[seqs], pos = new int[seqs];
            for (int s = 0; s < seqs; s++) {
                int[] prompt = new int[1 + s], ppos = new int[1 + s];
                for (int i = 0; i <= s; i++) {
                    prompt[i] = (7 * s + 13 * i) % vocab;
                    ppos[i] = context.length + i;
                }
                together[s] = llama.newCache(prompt.length + 3, prefix);
                alone[s] = llama.newCache(prompt.length + 3, prefix);
                llama.forward(prompt, ppos, together[s], Mask.prefix(), io.sac4j.forward.Logits.NONE);
                llama.forward(prompt, ppos, alone[s], Mask.prefix(), io.sac4j.forward.Logits.NONE);
                next[s] = (3 * s + 1) % vocab;
                pos[s] = context.length + prompt.length;
            }
            for (int step = 0; step < 3; step++) {
                float[] all = llama.decodeEach(next.clone(), pos.clone(), together.clone(), Mask.prefix());
                for (int s = 0; s < seqs; s++) {
                    float[] one = llama.forward(new int[]{next[s]}, new int[]{pos[s]}, alone[s], Mask.prefix(), io.sac4j.forward.Logits.LAST);
                    assertArrayEquals(one, java.util.Arrays.copyOfRange(all, s * vocab, (s + 1) * vocab),
                            type + " step " + step + ": sequence " + s + " decoded together differs from alone");
                    next[s] = argmax(one);
                    pos[s]++;
                }
            }
            for (int s = 0; s < seqs; s++) assertEquals(alone[s].length(), together[s].length());
            assertThrows(IllegalArgumentException.class, () -> llama.decodeEach(new int[]{1, 2}, new int[]{40, 41},
                    new KvCache[]{together[0], together[0]}, Mask.prefix()), "one cache twice");
            assertThrows(IllegalArgumentException.class, () -> llama.decodeEach(new int[]{1, 2}, new int[]{40, 41},
                    new KvCache[]{together[0]}, Mask.prefix()), "fewer caches than rows");
            assertThrows(IllegalArgumentException.class, () -> llama.decodeEach(new int[]{1, 2}, new int[]{40, 41},
                    new KvCache[]{together[0], together[1]}, Mask.prefix()), "full caches");
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    // ------------------------------------------------------------------ thread team

    @Test
    void parallelCoversEveryIndexOnceAndPropagatesErrors() {
        try (Parallel par = new Parallel(2)) {
            for (int n : new int[]{0, 1, 5, 1000}) {
                int[] hits = new int[n];
                par.forRange(n, 4, (lo, hi) -> {
                    for (int i = lo; i < hi; i++) hits[i]++;
                });
                for (int h : hits) assertEquals(1, h);
                AtomicInteger count = new AtomicInteger();
                par.forEachDynamic(n, (lo, hi) -> count.addAndGet(hi - lo));
                assertEquals(n, count.get());
            }
            IllegalStateException boom = new IllegalStateException("boom");
            assertSame(boom, assertThrows(IllegalStateException.class, () -> par.forRange(100, 1, (lo, hi) -> {
                if (lo > 0) throw boom;
            })));
            // a nested call runs serially instead of deadlocking, and the team still works afterwards
            int[] nested = new int[8];
            par.forRange(2, 1, (lo, hi) -> par.forRange(4, 1, (a, b) -> {
                for (int i = a; i < b; i++) nested[lo * 4 + i]++;
            }));
            for (int h : nested) assertEquals(1, h);
        }
    }
}
