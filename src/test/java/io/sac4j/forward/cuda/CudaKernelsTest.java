package io.sac4j.forward.cuda;

import io.sac4j.SacException;
import io.sac4j.decode.Sampler;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Buf;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Mask;
import io.sac4j.forward.Rope;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.DType;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.sac4j.forward.cuda.GpuSupport.assertClose;
import static io.sac4j.forward.cuda.GpuSupport.config;
import static io.sac4j.forward.cuda.GpuSupport.randn;
import static io.sac4j.forward.cuda.GpuSupport.roundBf16;
import static io.sac4j.forward.cuda.GpuSupport.tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every CUDA op against the CPU backend (the reference semantics), ggml test-backend-ops style: the same inputs
 * through both, compared by normalised mean squared error, at odd sizes (1, 7, 509, 510, 511, 4097 rows), head
 * dims 64 and 128 (and the generic 16, 80, 256), grouped-query ratios 1/2/4/8 and all three mask kinds.
 * Skipped, with the reason, where CUDA is unavailable; run on a GPU by scripts/gpu/run_all.sh and on the CPU
 * emulator (smaller sizes) by scripts/gpu/emu_check.sh.
 */
@Tag("gpu")
class CudaKernelsTest {
    private static CudaBackend gpu;
    private static CpuBackend cpu;
    private static boolean small;

    @BeforeAll
    static void open() {
        gpu = GpuSupport.openOrNull(false, true, true);
        cpu = new CpuBackend(Math.max(2, Runtime.getRuntime().availableProcessors()));
        small = gpu != null && GpuSupport.small(gpu);
    }

    /** Each test is reported skipped, with the reason, where CUDA is unavailable. */
    @BeforeEach
    void needsGpu() {
        assumeTrue(gpu != null, GpuSupport.unavailable);
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        if (cpu != null) cpu.close();
    }

    private static int[] rowCounts() {
        return small ? new int[]{1, 7, 65} : new int[]{1, 7, 509, 510, 511, 4097};
    }

    private static Buf put(Backend be, float[] x, int rows, int cols) {
        Buf b = be.alloc(rows, cols);
        be.write(b, x);
        return b;
    }

    private static float[] read(Backend be, Buf b) {
        float[] out = new float[b.rows() * b.cols()], row = new float[b.cols()];
        for (int r = 0; r < b.rows(); r++) {
            be.readRow(b, r, row);
            System.arraycopy(row, 0, out, r * b.cols(), row.length);
        }
        return out;
    }

    @Test
    void writeReadAndLastRow() {
        Random r = new Random(1);
        float[] x = randn(r, 7 * 33, 1);
        Buf b = put(gpu, x, 7, 33);
        assertArrayEquals(x, read(gpu, b));
        assertArrayEquals(Arrays.copyOfRange(x, 6 * 33, 7 * 33), read(gpu, gpu.lastRow(b)));
    }

    @Test
    void rmsNorm() {
        Random r = new Random(2);
        for (int rows : rowCounts())
            for (int cols : small ? new int[]{64, 97} : new int[]{64, 97, 4096}) {
                float[] x = randn(r, rows * cols, 3);
                Tensor g = tensor("g", DType.F32, 1, cols, r);
                Buf og = gpu.alloc(rows, cols), oc = cpu.alloc(rows, cols);
                gpu.rmsNorm(og, put(gpu, x, rows, cols), g, 1e-5f);
                cpu.rmsNorm(oc, put(cpu, x, rows, cols), g, 1e-5f);
                assertClose("rmsnorm " + rows + "x" + cols, read(gpu, og), read(cpu, oc), 1e-12);
            }
    }

    @Test
    void ropeBothPairLayouts() {
        Random r = new Random(3);
        for (ModelConfig.RopeStyle style : ModelConfig.RopeStyle.values())
            for (int hd : new int[]{16, 64, 128})
                for (int rows : rowCounts()) {
                    int heads = 3, cols = heads * hd + 8;  // wider rows: only the heads are rotated
                    Rope rope = new Rope(config(heads, heads, hd, 1, style));
                    int[] pos = new int[rows];
                    for (int i = 0; i < rows; i++) pos[i] = 5 + 37 * i;
                    Rope.Table t = rope.table(pos);
                    float[] x = randn(r, rows * cols, 1);
                    Buf bg = put(gpu, x, rows, cols), bc = put(cpu, x, rows, cols);
                    gpu.rope(bg, heads, t);
                    cpu.rope(bc, heads, t);
                    assertClose("rope " + style + " hd " + hd + " rows " + rows, read(gpu, bg), read(cpu, bc), 1e-12);
                }
    }

    @Test
    void elementwise() {
        Random r = new Random(4);
        for (int rows : rowCounts()) {
            int cols = 97;
            float[] a = randn(r, rows * cols, 3), c = randn(r, rows * cols, 1);
            Buf ga = put(gpu, a, rows, cols), gc = put(gpu, c, rows, cols), ca = put(cpu, a, rows, cols), cc = put(cpu, c, rows, cols);
            gpu.swiglu(ga, gc);
            cpu.swiglu(ca, cc);
            assertClose("swiglu rows " + rows, read(gpu, ga), read(cpu, ca), 1e-12);
            gpu.add(ga, gc);
            cpu.add(ca, cc);
            assertClose("add rows " + rows, read(gpu, ga), read(cpu, ca), 1e-14);
            Tensor bias = tensor("bias", DType.F32, 1, cols, r);
            gpu.addBias(ga, bias);
            cpu.addBias(ca, bias);
            assertClose("addBias rows " + rows, read(gpu, ga), read(cpu, ca), 1e-14);
        }
    }

    @Test
    void embedEveryType() {
        Random r = new Random(5);
        for (DType type : DType.values())
            for (int n : new int[]{1, 7, 509}) {
                int vocab = 300, cols = 96;
                Tensor table = tensor("emb", type, vocab, cols, r);
                int[] tokens = r.ints(n, 0, vocab).toArray();
                tokens[0] = vocab - 1;
                Buf og = gpu.alloc(n, cols), oc = cpu.alloc(n, cols);
                gpu.embed(og, table, tokens);
                cpu.embed(oc, table, tokens);
                assertArrayEquals(read(cpu, oc), read(gpu, og), "embed " + type + " tokens " + n);
            }
        assertThrows(IllegalArgumentException.class, () -> gpu.embed(gpu.alloc(1, 96), tensor("emb", DType.F32, 10, 96, r), new int[]{10}));
    }

    @Test
    void matmulEveryTypeAndPath() {
        Random r = new Random(6);
        try (CudaBackend builtIn = GpuSupport.openOrSkip(false, true, false)) {
            int[][] nk = small ? new int[][]{{67, 96}, {130, 64}} : new int[][]{{67, 96}, {1000, 512}, {4096, 4096}};
            for (DType type : DType.values())
                for (int[] s : nk) {
                    Tensor w = tensor("w", type, s[0], s[1], r);
                    for (CudaBackend be : new CudaBackend[]{gpu, builtIn})
                        for (int m : small ? new int[]{1, 7, 8, 9, 65} : new int[]{1, 7, 8, 9, 509, 4097}) {
                            if (!small && m == 4097 && s[0] == 4096 && be != gpu) continue;  // the SIMT kernel at 4k^3: M = 509 is enough
                            float[] x = randn(r, m * s[1], 1);
                            Buf og = be.alloc(m, s[0]), oc = cpu.alloc(m, s[0]);
                            be.matmul(og, put(be, x, m, s[1]), w);
                            cpu.matmul(oc, put(cpu, x, m, s[1]), w);
                            // cuBLAS takes bf16/f16 activations: the rounding of x shows
                            boolean rounded = be.name().contains("matmul: cuBLAS") && m > Kernels.GEMV_ROWS && (type == DType.BF16 || type == DType.F16);
                            assertClose(be.name() + " matmul " + type + " " + m + "x" + s[0] + "x" + s[1], read(be, og), read(cpu, oc), rounded ? 2e-5 : 1e-10);
                        }
                }
        }
    }

    /** One attention call (after {@code before} rows already in the cache), compared with the CPU backend. */
    private record AttnCase(int rows, int hd, int heads, int kvHeads, int prefix, int before, Mask mask) {
        @Override
        public String toString() {
            return "attention " + mask.kind() + (mask.kind() == Mask.Kind.BLOCKS ? "(" + mask.blockSize() + ")" : "") + " rows " + rows
                    + " hd " + hd + " heads " + heads + "/" + kvHeads + " prefix " + prefix + " before " + before;
        }
    }

    private static void checkAttention(CudaBackend be, AttnCase c, boolean bf16Inputs, Random r) {
        checkAttention(be, c, bf16Inputs, r, 1e-10);
    }

    private static void checkAttention(CudaBackend be, AttnCase c, boolean bf16Inputs, Random r, double tol) {
        ModelConfig cfg = config(c.heads(), c.kvHeads(), c.hd(), 2, ModelConfig.RopeStyle.HALVES);
        int kv = cfg.kvDim(), layer = 1;
        KvCache pg = null, pc = null;
        if (c.prefix() > 0) {
            float[][] k = new float[2][], v = new float[2][];
            for (int l = 0; l < 2; l++) {
                k[l] = kvRows(r, c.prefix() * kv, bf16Inputs);
                v[l] = kvRows(r, c.prefix() * kv, bf16Inputs);
            }
            pg = be.cacheOf(k, v, cfg);
            pc = cpu.cacheOf(k, v, cfg);
        }
        KvCache cg = be.newCache(cfg, c.before() + c.rows(), pg), cc = cpu.newCache(cfg, c.before() + c.rows(), pc);
        if (c.before() > 0) {
            attend(be, cfg, cg, c.before(), layer, Mask.causal(), bf16Inputs, r, cc, null, 0);
            cg.advance(c.before());
            cc.advance(c.before());
        }
        attend(be, cfg, cg, c.rows(), layer, c.mask(), bf16Inputs, r, cc, c.toString(), tol);
    }

    /** Appends rows to both caches and attends; compares the outputs when {@code what} is given. */
    private static void attend(CudaBackend be, ModelConfig cfg, KvCache cg, int rows, int layer, Mask mask, boolean bf16, Random r,
                               KvCache cc, String what, double tol) {
        float[] q = randn(r, rows * cfg.qDim(), 1), k = kvRows(r, rows * cfg.kvDim(), bf16), v = kvRows(r, rows * cfg.kvDim(), bf16);
        Buf og = be.alloc(rows, cfg.qDim()), oc = cpu.alloc(rows, cfg.qDim());
        be.attention(og, put(be, q, rows, cfg.qDim()), put(be, k, rows, cfg.kvDim()), put(be, v, rows, cfg.kvDim()), cg, layer, mask, cfg);
        cpu.attention(oc, put(cpu, q, rows, cfg.qDim()), put(cpu, k, rows, cfg.kvDim()), put(cpu, v, rows, cfg.kvDim()), cc, layer, mask, cfg);
        if (what != null) assertClose(what, read(be, og), read(cpu, oc), tol);
    }

    /** Keys/values: a spread of magnitudes so the softmax is neither flat nor one-hot; bf16-exact when asked. */
    private static float[] kvRows(Random r, int n, boolean bf16) {
        float[] x = randn(r, n, 1.5);
        if (bf16) for (int i = 0; i < n; i++) x[i] = roundBf16(x[i]);
        return x;
    }

    @Test
    void attentionAllMasksHeadDimsAndGroups() {
        Random r = new Random(7);
        List<AttnCase> cases = new ArrayList<>();
        for (int rows : rowCounts())
            for (int hd : small ? new int[]{16, 64} : new int[]{64, 128})
                for (int g : small ? new int[]{1, 4} : new int[]{1, 2, 4, 8}) {
                    if (rows == 4097 && g != 4) continue;
                    cases.add(new AttnCase(rows, hd, 2 * g, 2, 0, 0, Mask.causal()));
                    cases.add(new AttnCase(rows, hd, g, 1, 0, 0, Mask.blocks(small ? 33 : 510)));
                    cases.add(new AttnCase(rows, hd, g, 1, small ? 40 : 300, 0, Mask.prefix()));
                }
        for (AttnCase c : cases) checkAttention(gpu, c, false, r);
    }

    @Test
    void attentionGenericHeadDims() {
        Random r = new Random(8);
        for (int hd : new int[]{16, 32, 80, 96, 256}) {
            int rows = small ? 33 : 129;
            checkAttention(gpu, new AttnCase(rows, hd, 4, 2, 0, 0, Mask.causal()), false, r);
            checkAttention(gpu, new AttnCase(rows, hd, 4, 1, 17, 0, Mask.prefix()), false, r);
            checkAttention(gpu, new AttnCase(rows, hd, 2, 2, 0, 3, Mask.blocks(5)), false, r);
        }
        SacException e = assertThrows(SacException.class, () -> checkAttention(gpu, new AttnCase(3, 6, 2, 2, 0, 0, Mask.causal()), false, r));
        assertEquals("CUDA: head dim 6 is not supported by the attention kernels (a multiple of 4, at most 256)", e.getMessage());
    }

    /** Few query blocks over many keys take the split-K path (partials, then the combine kernel). */
    @Test
    void attentionSplitKDecode() {
        Random r = new Random(9);
        int longPrefix = small ? 700 : 9000;
        checkAttention(gpu, new AttnCase(1, 128, 8, 2, longPrefix, 0, Mask.prefix()), false, r);
        checkAttention(gpu, new AttnCase(1, 64, 4, 1, longPrefix, 1, Mask.prefix()), false, r);
        checkAttention(gpu, new AttnCase(3, 128, 32, 8, 0, small ? 500 : 2000, Mask.causal()), false, r);
        checkAttention(gpu, new AttnCase(2, 16, 4, 4, longPrefix, 0, Mask.prefix()), false, r);
    }

    /**
     * A bf16 cache stores K/V rounded to bf16: given bf16-exact K/V, the SIMT kernels match the CPU as closely as
     * with f32, and the tensor-core kernel (head dims 64 and 128; q and softmax weights in bf16) to 1e-4.
     */
    @Test
    void attentionBf16Cache() {
        Random r = new Random(10);
        for (boolean tensorCores : new boolean[]{true, false})
            try (CudaBackend bf = GpuSupport.openOrSkip(true, tensorCores, true)) {
                assertEquals(tensorCores, bf.name().contains("tensor-core attention"), bf.name());
                for (int rows : small ? new int[]{1, 33} : new int[]{1, 7, 509, 511, 4097}) {
                    for (int g : small ? new int[]{4} : new int[]{1, 2, 4, 8})
                        checkAttention(bf, new AttnCase(rows, 128, 2 * g, 2, 0, 0, Mask.causal()), true, r, tolerance(bf, 128));
                    checkAttention(bf, new AttnCase(rows, 64, 4, 1, small ? 70 : 1000, 3, Mask.prefix()), true, r, tolerance(bf, 64));
                    checkAttention(bf, new AttnCase(rows, 64, 8, 2, 0, 0, Mask.blocks(small ? 7 : 510)), true, r, tolerance(bf, 64));
                    checkAttention(bf, new AttnCase(rows, 16, 2, 2, 0, 5, Mask.blocks(small ? 7 : 510)), true, r, tolerance(bf, 16));
                }
                checkAttention(bf, new AttnCase(1, 64, 4, 1, small ? 700 : 9000, 0, Mask.prefix()), true, r, tolerance(bf, 64));
                checkAttention(bf, new AttnCase(1, 128, 8, 2, small ? 700 : 9000, 0, Mask.prefix()), true, r, tolerance(bf, 128));
            }
    }

    /** The tensor-core kernel (bf16 cache, head dim 64 or 128) rounds q and the softmax weights to bf16. */
    private static double tolerance(CudaBackend be, int headDim) {
        return be.name().contains("tensor-core") && (headDim == 64 || headDim == 128) ? 1e-4 : 1e-10;
    }

    /** The stored rows of a cache, its gathered anchors, and caches on caches, against the CPU backend. */
    @Test
    void cacheRowsGatherAndNestedPrefixes() {
        Random r = new Random(11);
        for (boolean bf16 : new boolean[]{false, true})
            try (CudaBackend be = GpuSupport.openOrSkip(bf16, true, true)) {
                ModelConfig cfg = config(4, 2, 16, 3, ModelConfig.RopeStyle.HALVES);
                int kv = cfg.kvDim(), p = 23, own = small ? 40 : 1100;
                float[][] k = new float[3][], v = new float[3][];
                for (int l = 0; l < 3; l++) {
                    k[l] = kvRows(r, p * kv, true);
                    v[l] = kvRows(r, p * kv, true);
                }
                KvCache pg = be.cacheOf(k, v, cfg), pc = cpu.cacheOf(k, v, cfg);
                for (int l = 0; l < 3; l++) assertArrayEquals(pc.ownRows(l)[0], pg.ownRows(l)[0], "cacheOf layer " + l);
                KvCache cg = be.newCache(cfg, own, pg), cc = cpu.newCache(cfg, own, pc);
                for (int l = 0; l < 3; l++) attend(be, cfg, cg, own, l, Mask.prefix(), true, r, cc, "fill layer " + l, tolerance(be, 16));
                cg.advance(own);
                cc.advance(own);
                for (int l = 0; l < 3; l++) {
                    assertArrayEquals(cc.ownRows(l)[0], cg.ownRows(l)[0], "own keys of layer " + l);
                    assertArrayEquals(cc.ownRows(l)[1], cg.ownRows(l)[1], "own values of layer " + l);
                }
                // SAC's anchors: r = 5 rows from off = 2 in each 510-row chunk, across the prefix boundary
                int[] rows = java.util.stream.IntStream.range(0, p + own).filter(i -> i % 510 % 5 == 2 || i == p - 1 || i == p).toArray();
                KvCache gg = be.gather(cg, rows, cfg), gc = cpu.gather(cc, rows, cfg);
                assertEquals(rows.length, gg.length());
                for (int l = 0; l < 3; l++) {
                    assertArrayEquals(gc.ownRows(l)[0], gg.ownRows(l)[0], "gathered keys of layer " + l);
                    assertArrayEquals(gc.ownRows(l)[1], gg.ownRows(l)[1], "gathered values of layer " + l);
                }
                // SAC joins the anchors of its encoder calls: on the device, the CPU's rows (its concat goes through
                // the host), an empty part included; a cache with a prefix is refused
                int[] ends = {0, p + own - 1};
                KvCache jg = be.concat(java.util.List.of(gg, be.gather(cg, ends, cfg), be.gather(cg, new int[0], cfg)), cfg);
                KvCache jc = cpu.concat(java.util.List.of(gc, cpu.gather(cc, ends, cfg)), cfg);
                assertEquals(rows.length + 2, jg.length());
                assertEquals(0, jg.prefixLength());
                for (int l = 0; l < 3; l++) {
                    assertArrayEquals(jc.ownRows(l)[0], jg.ownRows(l)[0], "joined keys of layer " + l);
                    assertArrayEquals(jc.ownRows(l)[1], jg.ownRows(l)[1], "joined values of layer " + l);
                }
                assertThrows(IllegalArgumentException.class, () -> be.concat(java.util.List.of(gg, cg), cfg));
                // a cache on a cache that has a prefix (the backend flattens it) answers like the CPU's chain
                KvCache ng = be.newCache(cfg, 5, cg), nc = cpu.newCache(cfg, 5, cc);
                assertEquals(p + own, ng.prefixLength());
                attend(be, cfg, ng, 5, 2, Mask.prefix(), true, r, nc, "over a nested prefix", tolerance(be, 16));
                assertThrows(IllegalArgumentException.class, () -> be.gather(cg, new int[]{p + own}, cfg));
            }
    }

    @Test
    void roleAddAndArgmax() {
        Random r = new Random(12);
        int rows = small ? 100 : 1020, cols = 64;
        float[] x = randn(r, rows * cols, 1);
        Tensor roles = tensor("role_tokens", DType.BF16, 102, cols, r);
        float[] rv = roles.toFloats();
        int[] at = java.util.stream.IntStream.range(0, rows).filter(i -> i % 510 % 5 == 2).toArray();
        int[] ids = new int[at.length];
        for (int i = 0; i < at.length; i++) ids[i] = (at[i] % 510 - 2) / 5;
        Buf b = put(gpu, x, rows, cols);
        gpu.roleAdd(b, roles, at, ids);
        float[] want = x.clone();
        for (int i = 0; i < at.length; i++) for (int c = 0; c < cols; c++) want[at[i] * cols + c] += rv[ids[i] * cols + c];
        assertArrayEquals(want, read(gpu, b));
        assertThrows(IllegalArgumentException.class, () -> gpu.roleAdd(b, roles, new int[]{2, 2}, new int[]{0, 1}));

        int vocab = small ? 1000 : 128256;
        float[] logits = randn(r, 3 * vocab, 1);
        logits[vocab + 17] = 9;
        logits[vocab + vocab - 1] = 9;  // a tie: the first wins
        logits[2 * vocab + 5] = Float.NaN;  // NaN never wins (Sampler.argmax agrees when it is not the first)
        int[] got = gpu.argmax(put(gpu, logits, 3, vocab));
        for (int row = 0; row < 3; row++)
            assertEquals(Sampler.argmax(Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab)), got[row], "row " + row);
    }

    /**
     * close() gives back every device allocation: the driver's free memory (read with cuMemGetInfo while this
     * class's backend keeps the context alive) is the same before opening a second backend and after closing it,
     * however much that backend held (a 1 GiB cache on a GPU, weights, buffers, cuBLAS). A real driver may round
     * or cache a little, hence the slack there; the emulator's fake driver counts exactly.
     */
    @Test
    void closeFreesEverything() {
        Random r = new Random(13);
        long before = driverFreeBytes();
        long held;
        try (CudaBackend be = GpuSupport.openOrSkip(false, true, true)) {
            ModelConfig cfg = config(8, 2, 128, 16, ModelConfig.RopeStyle.HALVES);
            KvCache big = be.newCache(cfg, small ? 64 : 32768, null);  // 16 layers x 2 x 32768 x 256 x 4 bytes = 1 GiB
            Buf x = put(be, randn(r, 9 * 128, 1), 9, 128);
            be.matmul(be.alloc(9, 300), x, tensor("w", DType.BF16, 300, 128, r));
            big.advance(1);  // a row the gather can take (its values do not matter here)
            be.gather(big, new int[]{0}, cfg);
            held = be.deviceBytesHeld();
            assertTrue(held >= (small ? 0 : 1L << 30), "held " + held);
        }
        // exact on the emulator only: a real driver (and compute-sanitizer, which runs this with small sizes)
        // keeps a few MB of its own
        long slack = gpu.name().contains("emulator") ? 0 : 64L << 20;
        assertTrue(Math.abs(driverFreeBytes() - before) <= slack,
                "free device memory " + before + " before, " + driverFreeBytes() + " after closing a backend that held " + held);
    }

    private static long driverFreeBytes() {
        try (org.bytedeco.javacpp.SizeTPointer free = new org.bytedeco.javacpp.SizeTPointer(1);
             org.bytedeco.javacpp.SizeTPointer total = new org.bytedeco.javacpp.SizeTPointer(1)) {
            gpu.deviceBytesHeld();  // makes the shared primary context current on this thread
            Cu.check(org.bytedeco.cuda.global.cudart.cuMemGetInfo(free, total), "cuMemGetInfo");
            return free.get();
        }
    }

    @Test
    void misuseIsReported() {
        ModelConfig cfg = config(2, 2, 16, 1, ModelConfig.RopeStyle.HALVES);
        Buf foreign = cpu.alloc(1, 4);
        assertThrows(IllegalArgumentException.class, () -> gpu.add(foreign, foreign));
        KvCache full = gpu.newCache(cfg, 1, null);
        Buf q = gpu.alloc(2, cfg.qDim()), k = gpu.alloc(2, cfg.kvDim());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.attention(q, q, k, k, full, 0, Mask.causal(), cfg));
        assertEquals("KV cache full: 2 > 1", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> gpu.attention(q, q, k, k, gpu.newCache(cfg, 4, null), 0, Mask.prefix(), cfg));
        assertTrue(gpu.deviceBytesHeld() > 0);
    }
}
