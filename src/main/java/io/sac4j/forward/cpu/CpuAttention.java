package io.sac4j.forward.cpu;

import io.sac4j.forward.Mask;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.List;

/**
 * Attention over a KV cache in the flash-attention style: a task is one KV head and a block of query rows (all the
 * query heads that share that KV head), and it walks the visible keys in blocks of {@link #KB}, keeping a running
 * max and sum per query (online softmax). Each key block is transposed once into a small L1 buffer and then used
 * by every query of the task, so scores are vectorised over keys and value rows are reused across queries.
 */
final class CpuAttention {
    private static final VectorSpecies<Float> F = CpuMatmul.F;
    private static final int VL = F.length();
    /** Keys per block (a multiple of any vector length). */
    private static final int KB = 64;
    /** Target queries per task: enough to amortise the key transpose, few enough for many tasks. */
    private static final int QUERIES = 64;

    /** A run of consecutive cache rows stored in one pair of arrays ([rows][kvDim]). */
    record Segment(float[] k, float[] v, int firstRow, int rows) {
    }

    private CpuAttention() {
    }

    /**
     * out[r, h] = softmax(q[r, h] . K^T * scale) V over the keys the mask gives row r, for rows new rows appended
     * at cache index {@code start}; keys and values already sit in {@code segs}.
     */
    static void run(float[] out, float[] q, int rows, int start, List<Segment> segs, Mask mask,
                    int heads, int kvHeads, int hd, Parallel par) {
        int group = heads / kvHeads, qb = Math.max(1, QUERIES / group), blocks = (rows + qb - 1) / qb;
        Segment[] seg = segs.toArray(Segment[]::new);
        Ctx ctx = new Ctx(out, q, rows, start, seg, mask, heads, group, hd, heads * hd, kvHeads * hd, (float) (1.0 / Math.sqrt(hd)));
        // causal tasks grow with position, so hand them out dynamically
        par.forEachDynamic(kvHeads * blocks, (lo, hi) -> {
            for (int task = lo; task < hi; task++) {
                int r0 = (task % blocks) * qb;
                ctx.task(task / blocks, r0, Math.min(rows, r0 + qb));
            }
        });
    }

    private record Ctx(float[] out, float[] q, int rows, int start, Segment[] segs, Mask mask, int heads, int group,
                       int hd, int qDim, int kvDim, float scale) {

        /** Queries: rows [r0, r1) x the query heads of KV head g. */
        void task(int g, int r0, int r1) {
            int m = (r1 - r0) * group, mp = (m + 3) & ~3, hdp = (hd + VL - 1) / VL * VL;
            int[] qoff = new int[mp], lo = new int[mp], hi = new int[mp];
            for (int i = 0; i < mp; i++) {
                int j = Math.min(i, m - 1), r = r0 + j / group, h = g * group + j % group; // pad with copies of the last
                qoff[i] = r * qDim + h * hd;
                lo[i] = mask.lo(start, r);
                hi[i] = mask.hi(start, rows, r);
            }
            int from = Integer.MAX_VALUE, to = 0;
            for (int i = 0; i < m; i++) {
                from = Math.min(from, lo[i]);
                to = Math.max(to, hi[i]);
            }
            float[] kt = new float[hd * KB], s = new float[mp * KB], o = new float[mp * hdp];
            float[] max = new float[mp], sum = new float[mp];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[][] vArr = new float[KB][];
            int[] vOff = new int[KB];
            for (int j0 = from; j0 < to; j0 += KB) {
                int n = Math.min(KB, to - j0);
                gather(g, j0, n, kt, vArr, vOff);
                scores(kt, j0, s, qoff, lo, hi, mp);
                for (int i = 0; i < mp; i++) softmaxStep(s, i, n, max, sum, o, hdp);
                accumulate(s, n, vArr, vOff, o, mp, hdp);
            }
            for (int i = 0; i < m; i++) {
                float inv = 1 / sum[i];
                for (int d = 0; d < hd; d++) out[qoff[i] + d] = o[i * hdp + d] * inv;
            }
        }

        /** Transposes keys [j0, j0+n) of KV head g into kt[d][KB] (zero past n) and notes where their values are. */
        void gather(int g, int j0, int n, float[] kt, float[][] vArr, int[] vOff) {
            if (n < KB) Arrays.fill(kt, 0f);
            for (Segment sg : segs) {
                int a = Math.max(j0, sg.firstRow), e = Math.min(j0 + n, sg.firstRow + sg.rows);
                for (int j = a; j < e; j++) {
                    int src = (j - sg.firstRow) * kvDim + g * hd, col = j - j0;
                    for (int d = 0; d < hd; d++) kt[d * KB + col] = sg.k[src + d];
                    vArr[col] = sg.v;
                    vOff[col] = src;
                }
            }
        }

        /** s[i][c] = scale * q_i . k_{j0+c}, or -inf where the mask hides key j0+c from query i; four queries at once. */
        void scores(float[] kt, int j0, float[] s, int[] qoff, int[] lo, int[] hi, int mp) {
            for (int i = 0; i < mp; i += 4) {
                int q0 = qoff[i], q1 = qoff[i + 1], q2 = qoff[i + 2], q3 = qoff[i + 3];
                for (int c = 0; c < KB; c += VL) {
                    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                    for (int d = 0; d < hd; d++) {
                        FloatVector k = FloatVector.fromArray(F, kt, d * KB + c);
                        a0 = k.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
                        a1 = k.fma(FloatVector.broadcast(F, q[q1 + d]), a1);
                        a2 = k.fma(FloatVector.broadcast(F, q[q2 + d]), a2);
                        a3 = k.fma(FloatVector.broadcast(F, q[q3 + d]), a3);
                    }
                    int j = j0 + c;
                    masked(a0, j, lo[i], hi[i]).intoArray(s, i * KB + c);
                    masked(a1, j, lo[i + 1], hi[i + 1]).intoArray(s, (i + 1) * KB + c);
                    masked(a2, j, lo[i + 2], hi[i + 2]).intoArray(s, (i + 2) * KB + c);
                    masked(a3, j, lo[i + 3], hi[i + 3]).intoArray(s, (i + 3) * KB + c);
                }
            }
        }

        private FloatVector masked(FloatVector acc, int j, int lo, int hi) {
            VectorMask<Float> visible = F.indexInRange(j - lo, hi - lo);
            return acc.mul(scale).blend(FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), visible.not());
        }

        /**
         * Online softmax for query i over this block: rescale what was accumulated if the max grew, and turn the
         * block's scores into weights exp(s - max) in place.
         */
        void softmaxStep(float[] s, int i, int n, float[] max, float[] sum, float[] o, int hdp) {
            int base = i * KB;
            FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int c = 0; c < KB; c += VL) mv = mv.max(FloatVector.fromArray(F, s, base + c));
            float blockMax = mv.reduceLanes(VectorOperators.MAX);
            if (blockMax == Float.NEGATIVE_INFINITY) { // nothing visible here: weights 0, nothing to rescale
                Arrays.fill(s, base, base + KB, 0f);
                return;
            }
            float newMax = Math.max(max[i], blockMax);
            FloatVector total = FloatVector.zero(F);
            for (int c = 0; c < KB; c += VL) {
                FloatVector p = FloatVector.fromArray(F, s, base + c).sub(newMax);
                p = Vec.exp(p);
                p.intoArray(s, base + c);
                total = total.add(p);
            }
            if (newMax > max[i]) {
                float corr = (float) Math.exp(max[i] - newMax); // 0 when max was -inf (o and sum are 0 then)
                for (int d = 0; d < hdp; d += VL)
                    FloatVector.fromArray(F, o, i * hdp + d).mul(corr).intoArray(o, i * hdp + d);
                sum[i] *= corr;
                max[i] = newMax;
            }
            sum[i] += Vec.sum(total);
        }

        /** o[i] += sum_c p[i][c] * v_{j0+c}: each value row is loaded once per four queries. */
        void accumulate(float[] s, int n, float[][] vArr, int[] vOff, float[] o, int mp, int hdp) {
            for (int i = 0; i < mp; i += 4) {
                for (int d = 0; d < hdp; d += VL) {
                    VectorMask<Float> in = F.indexInRange(d, hd);
                    int o0 = i * hdp + d;
                    FloatVector a0 = FloatVector.fromArray(F, o, o0), a1 = FloatVector.fromArray(F, o, o0 + hdp);
                    FloatVector a2 = FloatVector.fromArray(F, o, o0 + 2 * hdp), a3 = FloatVector.fromArray(F, o, o0 + 3 * hdp);
                    for (int c = 0; c < n; c++) {
                        FloatVector v = d + VL <= hd ? FloatVector.fromArray(F, vArr[c], vOff[c] + d)
                                : FloatVector.fromArray(F, vArr[c], vOff[c] + d, in);
                        a0 = v.fma(FloatVector.broadcast(F, s[i * KB + c]), a0);
                        a1 = v.fma(FloatVector.broadcast(F, s[(i + 1) * KB + c]), a1);
                        a2 = v.fma(FloatVector.broadcast(F, s[(i + 2) * KB + c]), a2);
                        a3 = v.fma(FloatVector.broadcast(F, s[(i + 3) * KB + c]), a3);
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
