package io.sac4j.forward.cpu;

import io.sac4j.forward.Mask;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.List;

/**
 * Attention over a KV cache in the flash-attention style. A task is one KV head and a block of query rows, with
 * all the query heads that share that KV head (grouped-query attention), so every key and value row it loads
 * serves many queries. It walks the visible keys {@link #KB} at a time keeping a running max and sum per query
 * (online softmax), so memory stays small whatever the context length. Keys are stored transposed in blocks of
 * 16 ({@link CpuKvCache}), so a score is a run of FMAs of a broadcast query element with 16 keys' same dimension,
 * with no horizontal sums.
 */
final class CpuAttention {
    private static final VectorSpecies<Float> F = Vec.F;
    private static final int VL = F.length();
    private static final int BLOCK = CpuKvCache.BLOCK;
    /** Keys per online-softmax step (a multiple of the transposed block). */
    private static final int KB = 4 * BLOCK;
    /** Target queries per task: enough to reuse each key and value row many times, few enough for many tasks. */
    private static final int QUERIES = 64;

    static {
        if (BLOCK % VL != 0) throw new ExceptionInInitializerError("vectors of " + VL + " floats do not tile key blocks of " + BLOCK);
    }

    /**
     * Cache rows [firstRow, firstRow + rows) held by one cache, in its layout (see CpuKvCache): KV head g's keys
     * start at k[g * kHead], its values at v[g * vHead].
     */
    record Segment(float[] k, float[] v, int kHead, int vHead, int firstRow, int rows) {
    }

    private CpuAttention() {
    }

    /**
     * out[r, h] = softmax(q[r, h] . K^T / sqrt(hd)) V over the keys the mask gives row r, for {@code rows} new
     * rows at cache index {@code start}, whose keys and values are already in {@code segs}.
     */
    static void run(float[] out, float[] q, int rows, int start, List<Segment> segs, Mask mask,
                    int heads, int kvHeads, int hd, Parallel par) {
        int group = heads / kvHeads, qb = Math.max(1, QUERIES / group), blocks = (rows + qb - 1) / qb;
        Ctx ctx = new Ctx(out, q, rows, start, segs.toArray(Segment[]::new), mask, group, hd, heads * hd,
                (float) (1.0 / Math.sqrt(hd)));
        // causal tasks grow with position, so they are handed out dynamically
        par.forEachDynamic(kvHeads * blocks, (lo, hi) -> {
            for (int task = lo; task < hi; task++) {
                int r0 = (task % blocks) * qb;
                ctx.task(task / blocks, r0, Math.min(rows, r0 + qb));
            }
        });
    }

    private record Ctx(float[] out, float[] q, int rows, int start, Segment[] segs, Mask mask, int group, int hd,
                       int qDim, float scale) {

        /** Queries: rows [r0, r1) x the query heads of KV head g, padded to a multiple of 4 with copies of the last. */
        void task(int g, int r0, int r1) {
            int m = (r1 - r0) * group, mp = (m + 3) & ~3, hdp = (hd + VL - 1) / VL * VL;
            int[] qoff = new int[mp], lo = new int[mp], hi = new int[mp];
            int from = Integer.MAX_VALUE, to = 0;
            for (int i = 0; i < mp; i++) {
                int j = Math.min(i, m - 1), r = r0 + j / group, h = g * group + j % group;
                qoff[i] = r * qDim + h * hd;
                lo[i] = mask.lo(start, r);
                hi[i] = mask.hi(start, rows, r);
                from = Math.min(from, lo[i]);
                to = Math.max(to, hi[i]);
            }
            float[] s = new float[mp * KB], o = new float[mp * hdp], max = new float[mp], sum = new float[mp];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            for (Segment sg : segs) {
                for (int b = 0; b < sg.rows; b += KB) {
                    int j0 = sg.firstRow + b, n = Math.min(KB, sg.rows - b);
                    if (j0 + n <= from || j0 >= to) continue;
                    scores(sg.k, g * sg.kHead + b * hd, j0, n, s, qoff, lo, hi, mp);
                    for (int i = 0; i < mp; i++) softmaxStep(s, i, max, sum, o, hdp);
                    accumulate(sg.v, g * sg.vHead + b * hd, n, s, o, mp, hdp);
                }
            }
            for (int i = 0; i < m; i++) {
                float inv = 1 / sum[i];
                for (int d = 0; d < hd; d++) out[qoff[i] + d] = o[i * hdp + d] * inv;
            }
        }

        /**
         * s[i][c] = scale * q_i . key(j0 + c) for n keys whose transposed blocks start at kt[kBase], or -inf where
         * the mask hides the key from query i (and for c >= n); four queries share each load of 16 keys' dimension.
         */
        void scores(float[] kt, int kBase, int j0, int n, float[] s, int[] qoff, int[] lo, int[] hi, int mp) {
            int end = j0 + n;
            for (int i = 0; i < mp; i += 4) {
                int q0 = qoff[i], q1 = qoff[i + 1], q2 = qoff[i + 2], q3 = qoff[i + 3];
                int c0 = 0;
                for (; c0 < n; c0 += BLOCK) {
                    int base = kBase + c0 * hd; // block c0 / BLOCK holds hd x BLOCK floats
                    for (int c = 0; c < BLOCK; c += VL) {
                        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                        for (int d = 0, kd = base + c; d < hd; d++, kd += BLOCK) {
                            FloatVector k = FloatVector.fromArray(F, kt, kd);
                            a0 = k.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
                            a1 = k.fma(FloatVector.broadcast(F, q[q1 + d]), a1);
                            a2 = k.fma(FloatVector.broadcast(F, q[q2 + d]), a2);
                            a3 = k.fma(FloatVector.broadcast(F, q[q3 + d]), a3);
                        }
                        int j = j0 + c0 + c, at = c0 + c;
                        masked(a0, j, lo[i], Math.min(hi[i], end)).intoArray(s, i * KB + at);
                        masked(a1, j, lo[i + 1], Math.min(hi[i + 1], end)).intoArray(s, (i + 1) * KB + at);
                        masked(a2, j, lo[i + 2], Math.min(hi[i + 2], end)).intoArray(s, (i + 2) * KB + at);
                        masked(a3, j, lo[i + 3], Math.min(hi[i + 3], end)).intoArray(s, (i + 3) * KB + at);
                    }
                }
                for (int r = i; r < i + 4; r++) Arrays.fill(s, r * KB + c0, (r + 1) * KB, Float.NEGATIVE_INFINITY);
            }
        }

        /** The scaled scores of keys j .. j + VL - 1, -inf for keys outside [lo, hi). */
        private FloatVector masked(FloatVector acc, int j, int lo, int hi) {
            VectorMask<Float> visible = F.indexInRange(j - lo, hi - lo);
            return acc.mul(scale).blend(FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), visible.not());
        }

        /**
         * Online softmax for query i over one step: if the running max grew, rescale what was accumulated; then
         * turn the step's scores into weights exp(s - max) in place and add them to the running sum.
         */
        void softmaxStep(float[] s, int i, float[] max, float[] sum, float[] o, int hdp) {
            int base = i * KB;
            FloatVector mv = FloatVector.fromArray(F, s, base);
            for (int c = VL; c < KB; c += VL) mv = mv.max(FloatVector.fromArray(F, s, base + c));
            float stepMax = mv.reduceLanes(VectorOperators.MAX); // exact in any order
            if (stepMax == Float.NEGATIVE_INFINITY) { // nothing visible: weights 0, nothing to rescale
                Arrays.fill(s, base, base + KB, 0f);
                return;
            }
            if (stepMax > max[i]) {
                float corr = (float) Math.exp(max[i] - stepMax); // 0 while max is -inf (o and sum are 0 then)
                for (int d = 0; d < hdp; d += VL)
                    FloatVector.fromArray(F, o, i * hdp + d).mul(corr).intoArray(o, i * hdp + d);
                sum[i] *= corr;
                max[i] = stepMax;
            }
            FloatVector total = FloatVector.zero(F);
            for (int c = 0; c < KB; c += VL) {
                FloatVector p = Vec.exp(FloatVector.fromArray(F, s, base + c).sub(max[i]));
                p.intoArray(s, base + c);
                total = total.add(p);
            }
            sum[i] += Vec.sum(total);
        }

        /** o[i] += sum_c p[i][c] * value row c (rows of hd floats from v[vBase]); each value load serves four queries. */
        void accumulate(float[] v, int vBase, int n, float[] s, float[] o, int mp, int hdp) {
            for (int i = 0; i < mp; i += 4) {
                for (int d = 0; d < hdp; d += VL) {
                    int o0 = i * hdp + d;
                    FloatVector a0 = FloatVector.fromArray(F, o, o0), a1 = FloatVector.fromArray(F, o, o0 + hdp);
                    FloatVector a2 = FloatVector.fromArray(F, o, o0 + 2 * hdp), a3 = FloatVector.fromArray(F, o, o0 + 3 * hdp);
                    int s0 = i * KB, vo = vBase + d;
                    if (d + VL <= hd) {
                        for (int c = 0; c < n; c++, vo += hd) {
                            FloatVector x = FloatVector.fromArray(F, v, vo);
                            a0 = x.fma(FloatVector.broadcast(F, s[s0 + c]), a0);
                            a1 = x.fma(FloatVector.broadcast(F, s[s0 + KB + c]), a1);
                            a2 = x.fma(FloatVector.broadcast(F, s[s0 + 2 * KB + c]), a2);
                            a3 = x.fma(FloatVector.broadcast(F, s[s0 + 3 * KB + c]), a3);
                        }
                    } else { // the last piece of a head size that is not a multiple of VL
                        VectorMask<Float> in = F.indexInRange(d, hd);
                        for (int c = 0; c < n; c++, vo += hd) {
                            FloatVector x = FloatVector.fromArray(F, v, vo, in);
                            a0 = x.fma(FloatVector.broadcast(F, s[s0 + c]), a0);
                            a1 = x.fma(FloatVector.broadcast(F, s[s0 + KB + c]), a1);
                            a2 = x.fma(FloatVector.broadcast(F, s[s0 + 2 * KB + c]), a2);
                            a3 = x.fma(FloatVector.broadcast(F, s[s0 + 3 * KB + c]), a3);
                        }
                    }
                    a0.intoArray(o, o0);
                    a1.intoArray(o, o0 + hdp);
                    a2.intoArray(o, o0 + 2 * hdp);
                    a3.intoArray(o, o0 + 3 * hdp);
                }
            }
        }
    }
}
