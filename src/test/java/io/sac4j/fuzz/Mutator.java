package io.sac4j.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Byte-level mutations of a binary input, steered by its {@link Layout}: the section boundaries (where truncation
 * is most telling), the size/count/offset fields (where huge, negative and off-by-some values go) and the float data
 * regions (where NaN and infinities go).
 */
final class Mutator {
    private Mutator() {
    }

    /** A little-endian field of a binary layout: {@code width} 1, 2, 4 or 8 bytes at {@code offset}. */
    record Field(int offset, int width, String name) {
    }

    /** Where things are in one seed: boundaries ascending, fields, float32 data ranges [from, to). */
    record Layout(int headerEnd, int[] boundaries, List<Field> fields, List<int[]> floatData) {
        static Layout of(int headerEnd, List<Integer> boundaries, List<Field> fields, List<int[]> floatData) {
            return new Layout(headerEnd, boundaries.stream().mapToInt(Integer::intValue).distinct().sorted().toArray(),
                    List.copyOf(fields), List.copyOf(floatData));
        }

        static Layout none(int length) {
            return new Layout(length, new int[]{0, length}, List.of(), List.of());
        }
    }

    /** A mutated input and what was done, for messages and file names. */
    record Mutant(byte[] bytes, String what) {
    }

    /**
     * The truncations every run makes for a seed: at each section boundary, one byte before and one after, and an
     * empty file.
     */
    static List<Mutant> boundaryTruncations(byte[] seed, Layout layout) {
        List<Mutant> out = new ArrayList<>();
        java.util.TreeSet<Integer> cuts = new java.util.TreeSet<>();
        for (int b : layout.boundaries()) for (int d = -1; d <= 1; d++) if (b + d >= 0 && b + d < seed.length) cuts.add(b + d);
        for (int c : cuts) out.add(new Mutant(Arrays.copyOf(seed, c), "truncated at " + c));
        return out;
    }

    /** One random mutation of {@code seed}. */
    static Mutant random(byte[] seed, Layout layout, SplittableRandom rnd) {
        int op = rnd.nextInt(100);
        if (op < 22) return flipBits(seed, layout, rnd);
        if (op < 50 && !layout.fields().isEmpty()) return fieldValue(seed, layout.fields().get(rnd.nextInt(layout.fields().size())), rnd);
        if (op < 58) return wordAt(seed, layout, rnd);
        if (op < 68) return truncateRandom(seed, layout, rnd);
        if (op < 80) return splice(seed, layout, rnd);
        if (op < 88 && !layout.floatData().isEmpty()) return nonFinite(seed, layout, rnd);
        return flipBits(seed, layout, rnd);
    }

    static Mutant flipBits(byte[] seed, Layout layout, SplittableRandom rnd) {
        byte[] b = seed.clone();
        int n = 1 + rnd.nextInt(4);
        StringBuilder what = new StringBuilder("bit flips at");
        for (int i = 0; i < n; i++) {
            // mostly in the header, where the structure is
            int limit = rnd.nextInt(4) == 0 ? b.length : Math.max(1, Math.min(b.length, layout.headerEnd()));
            int at = rnd.nextInt(limit);
            b[at] ^= (byte) (1 << rnd.nextInt(8));
            what.append(' ').append(at);
        }
        return new Mutant(b, what.toString());
    }

    /** Writes a telling value into a size, count or offset field: huge, negative, zero, off by some, past the end. */
    static Mutant fieldValue(byte[] seed, Field f, SplittableRandom rnd) {
        if (f.offset() + f.width() > seed.length) return flipBits(seed, Layout.none(seed.length), rnd);
        byte[] b = seed.clone();
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        long old = switch (f.width()) {
            case 1 -> b[f.offset()] & 0xff;
            case 2 -> bb.getShort(f.offset()) & 0xffff;
            case 4 -> bb.getInt(f.offset()) & 0xffffffffL;
            default -> bb.getLong(f.offset());
        };
        long v = extreme(old, f.width(), seed.length, rnd);
        switch (f.width()) {
            case 1 -> b[f.offset()] = (byte) v;
            case 2 -> bb.putShort(f.offset(), (short) v);
            case 4 -> bb.putInt(f.offset(), (int) v);
            default -> bb.putLong(f.offset(), v);
        }
        return new Mutant(b, f.name() + " (" + f.width() + " bytes at " + f.offset() + ") " + old + " -> " + v);
    }

    static long extreme(long old, int width, int fileLength, SplittableRandom rnd) {
        long max = width == 8 ? Long.MAX_VALUE : (1L << (8 * width - 1)) - 1;
        long[] pool = {
                0, 1, 2, 3, -1, max, max + 1, max - 1, (1L << (8 * Math.min(width, 7))) - 1,
                old + 1, old - 1, old * 2, old + fileLength, old - fileLength, old + (1L << 20),
                fileLength, fileLength - 1, fileLength + 1, 1L << 31, 1L << 32, (1L << 32) + old, 1L << 62, Long.MIN_VALUE,
                Integer.MAX_VALUE, Integer.MIN_VALUE, 0x7fc00000L, rnd.nextLong()
        };
        return pool[rnd.nextInt(pool.length)];
    }

    /** An extreme 4- or 8-byte word at a random header position (for fields the layout does not know). */
    static Mutant wordAt(byte[] seed, Layout layout, SplittableRandom rnd) {
        int width = rnd.nextBoolean() ? 4 : 8;
        int limit = Math.min(seed.length, Math.max(layout.headerEnd(), width + 1)) - width;
        if (limit <= 0) return flipBits(seed, layout, rnd);
        int at = rnd.nextInt(limit);
        return fieldValue(seed, new Field(at, width, "word"), rnd);
    }

    static Mutant truncateRandom(byte[] seed, Layout layout, SplittableRandom rnd) {
        int at = rnd.nextBoolean() ? rnd.nextInt(Math.max(1, Math.min(seed.length, layout.headerEnd() + 16)))
                : rnd.nextInt(Math.max(1, seed.length));
        return new Mutant(Arrays.copyOf(seed, at), "truncated at " + at);
    }

    /** Copies, deletes or inserts a run of bytes: shifted structures, repeated records, garbage in the middle. */
    static Mutant splice(byte[] seed, Layout layout, SplittableRandom rnd) {
        int n = seed.length;
        if (n < 4) return flipBits(seed, layout, rnd);
        int span = Math.max(1, Math.min(n, layout.headerEnd()));
        int from = rnd.nextInt(span), len = 1 + rnd.nextInt(Math.min(64, n - from));
        switch (rnd.nextInt(3)) {
            case 0 -> { // overwrite a place with bytes from another place
                byte[] b = seed.clone();
                int to = rnd.nextInt(span);
                int m = Math.min(len, n - to);
                System.arraycopy(seed, from, b, to, m);
                return new Mutant(b, "copied " + m + " bytes from " + from + " to " + to);
            }
            case 1 -> { // delete
                byte[] b = new byte[n - len];
                System.arraycopy(seed, 0, b, 0, from);
                System.arraycopy(seed, from + len, b, from, n - from - len);
                return new Mutant(b, "deleted " + len + " bytes at " + from);
            }
            default -> { // insert random bytes
                byte[] ins = new byte[len];
                for (int i = 0; i < len; i++) ins[i] = (byte) rnd.nextInt(256);
                byte[] b = new byte[n + len];
                System.arraycopy(seed, 0, b, 0, from);
                System.arraycopy(ins, 0, b, from, len);
                System.arraycopy(seed, from, b, from + len, n - from);
                return new Mutant(b, "inserted " + len + " bytes at " + from);
            }
        }
    }

    static final int[] NON_FINITE = {0x7fc00000, 0x7f800000, 0xff800000, 0x7fffffff, 0xffc00001};

    /** NaN, +Inf or -Inf floats written into a float32 data region. */
    static Mutant nonFinite(byte[] seed, Layout layout, SplittableRandom rnd) {
        byte[] b = seed.clone();
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int[] r = layout.floatData().get(rnd.nextInt(layout.floatData().size()));
        int count = (r[1] - r[0]) / 4;
        if (count <= 0) return flipBits(seed, layout, rnd);
        int n = 1 + rnd.nextInt(Math.min(8, count));
        int bits = NON_FINITE[rnd.nextInt(NON_FINITE.length)];
        for (int i = 0; i < n; i++) bb.putInt(r[0] + 4 * rnd.nextInt(count), bits);
        return new Mutant(b, n + " floats set to 0x" + Integer.toHexString(bits) + " in [" + r[0] + ", " + r[1] + ")");
    }
}
