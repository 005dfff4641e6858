package io.sac4j.forward.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector helpers whose results do not depend on how the JIT compiled them. The Vector API's own
 * {@code reduceLanes(ADD)} and {@code EXP} give different roundings interpreted (lane by lane, Math.exp) and
 * compiled (a tree, SVML), so the first calls of a run would disagree with later ones, and 1 thread with 2. These
 * use only lane-wise IEEE operations, which are exact the same everywhere.
 */
final class Vec {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int VL = F.length();
    private static final VectorShuffle<Float> ROT8 = VectorShuffle.iota(F, Math.min(8, VL - 1), 1, true);
    private static final VectorShuffle<Float> ROT4 = VectorShuffle.iota(F, Math.min(4, VL - 1), 1, true);
    private static final VectorShuffle<Float> ROT2 = VectorShuffle.iota(F, Math.min(2, VL - 1), 1, true);
    private static final VectorShuffle<Float> ROT1 = VectorShuffle.iota(F, 1, 1, true);

    private Vec() {
    }

    /** Sum of the lanes by a fixed halving tree (lane i + lane i + VL/2, then quarters, ...). */
    static float sum(FloatVector v) {
        if (VL > 16 || Integer.bitCount(VL) != 1) { // no such x86 or ARM NEON shape; keep a fixed order anyway
            float s = 0;
            for (int i = 0; i < VL; i++) s += v.lane(i);
            return s;
        }
        if (VL == 16) v = v.add(v.rearrange(ROT8));
        if (VL >= 8) v = v.add(v.rearrange(ROT4));
        if (VL >= 4) v = v.add(v.rearrange(ROT2));
        if (VL >= 2) v = v.add(v.rearrange(ROT1));
        return v.lane(0);
    }

    private static FloatVector c(float v) {
        return FloatVector.broadcast(F, v);
    }

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 0x1.8p23f;

    /**
     * e^x to about 1 ulp (Cephes expf: x = n ln2 + r with |r| <= ln2 / 2, a degree-7 polynomial for e^r, then
     * scaling by 2^n in two steps so that results near overflow and in the subnormal range come out right).
     * -inf gives 0, +inf gives +inf, NaN gives NaN.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(-104f).min(88.8f); // beyond these e^x rounds to 0 or overflows anyway
        FloatVector t = xc.fma(LOG2E, ROUND); // n lands in the low mantissa bits (round to nearest)
        FloatVector n = t.sub(ROUND);
        FloatVector r = xc.sub(n.mul(LN2_HI)); // exact: LN2_HI has 9 significant bits, n at most 8
        r = n.fma(c(-LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, c(8.3334519073e-3f));
        p = p.fma(r, c(4.1665795894e-2f));
        p = p.fma(r, c(1.6666665459e-1f));
        p = p.fma(r, c(5.0000001201e-1f));
        p = p.fma(r.mul(r), r).add(1f);
        IntVector ni = t.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND));
        IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(s1).mul(s2);
    }
}
