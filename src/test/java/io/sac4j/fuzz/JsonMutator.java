package io.sac4j.fuzz;

import io.sac4j.load.Json;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Structure-aware mutations of JSON documents (config.json, tokenizer.json, safetensors headers, shard indexes): a
 * value somewhere in the tree becomes a huge, negative or overflowing number, a value of the wrong type, a deeply
 * nested array, a copy of another value (overlapping offsets); a key is duplicated or removed; or the serialized
 * text is cut at a structural character or gets bytes that are not UTF-8. Slots are picked by depth first, so the
 * few structural keys are hit as often as the thousands of vocabulary entries.
 */
final class JsonMutator {
    private JsonMutator() {
    }

    /** A JSON object whose entries may repeat a key (which a Map cannot hold). */
    record JObj(List<Object[]> entries) {
    }

    record JArr(List<Object> items) {
    }

    /** Text written as is: numbers Java cannot hold, deep nesting, invalid escapes. */
    record Raw(String text) {
    }

    /** Where a value sits: in an object entry or an array slot. */
    private record Slot(Object container, int index, int depth) {
        Object get() {
            return container instanceof JObj o ? o.entries().get(index)[1] : ((JArr) container).items().get(index);
        }

        void set(Object v) {
            if (container instanceof JObj o) o.entries().get(index)[1] = v;
            else ((JArr) container).items().set(index, v);
        }
    }

    static Object tree(String text) {
        return convert(Json.parse(text, "seed"));
    }

    private static Object convert(Object v) {
        if (v instanceof Map<?, ?> m) {
            List<Object[]> e = new ArrayList<>();
            for (Map.Entry<?, ?> x : m.entrySet()) e.add(new Object[]{x.getKey(), convert(x.getValue())});
            return new JObj(e);
        }
        if (v instanceof List<?> l) {
            List<Object> items = new ArrayList<>();
            for (Object x : l) items.add(convert(x));
            return new JArr(items);
        }
        return v;
    }

    private static Object copy(Object v) {
        if (v instanceof JObj o) {
            List<Object[]> e = new ArrayList<>();
            for (Object[] x : o.entries()) e.add(new Object[]{x[0], copy(x[1])});
            return new JObj(e);
        }
        if (v instanceof JArr a) {
            List<Object> items = new ArrayList<>();
            for (Object x : a.items()) items.add(copy(x));
            return new JArr(items);
        }
        return v;
    }

    private static void slots(Object v, int depth, List<Slot> out) {
        if (v instanceof JObj o) {
            for (int i = 0; i < o.entries().size(); i++) {
                out.add(new Slot(o, i, depth));
                slots(o.entries().get(i)[1], depth + 1, out);
            }
        } else if (v instanceof JArr a) {
            for (int i = 0; i < a.items().size(); i++) {
                out.add(new Slot(a, i, depth));
                slots(a.items().get(i), depth + 1, out);
            }
        }
    }

    /** A slot chosen by depth first (each depth equally likely), then uniformly within that depth. */
    private static Slot pick(List<Slot> all, SplittableRandom rnd) {
        int maxDepth = 0;
        for (Slot s : all) maxDepth = Math.max(maxDepth, s.depth());
        int d = rnd.nextInt(maxDepth + 1);
        List<Slot> at = new ArrayList<>();
        for (Slot s : all) if (s.depth() == d) at.add(s);
        return at.isEmpty() ? all.get(rnd.nextInt(all.size())) : at.get(rnd.nextInt(at.size()));
    }

    static final String[] STRINGS = {"", "x", "F64", "I32", "BF16", "F16", "F32", "Q4_K", "BPE", "WordPiece", "llama",
            "qwen2", "../model.safetensors", "/etc/passwd", "sub/dir/x.safetensors", "model.safetensors",
            "model.safetensors/..", ".", "NFC", "Sequence", "ByteLevel", "Split", "Isolated", "silu", "(a+)+$", "[", "\u0000",
            "\\", "\u2581", "\ud83d\ude00"};

    private static Object poolValue(SplittableRandom rnd) {
        return switch (rnd.nextInt(9)) {
            case 0, 1 -> new long[]{-1, 0, 1, 2, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 31, 1L << 32, 1L << 62,
                    Integer.MAX_VALUE, (1L << 32) - 1, 1L << 40}[rnd.nextInt(12)];
            case 2 -> new Raw(new String[]{"1e400", "-0", "18446744073709551616", "1.5", "9223372036854775808",
                    "-9223372036854775809", "1e-400", "0.0", "123456789012345678901234567890"}[rnd.nextInt(9)]);
            case 3 -> STRINGS[rnd.nextInt(STRINGS.length)];
            case 4 -> new Object[]{Boolean.TRUE, Boolean.FALSE, null}[rnd.nextInt(3)];
            case 5 -> new JArr(new ArrayList<>());
            case 6 -> new JObj(new ArrayList<>());
            case 7 -> deep(new int[]{64, 255, 256, 257, 300, 100_000}[rnd.nextInt(6)], rnd.nextBoolean());
            default -> overflowArray(rnd);
        };
    }

    /** {@code depth} nested arrays (or objects) around a 1. */
    static Raw deep(int depth, boolean objects) {
        StringBuilder b = new StringBuilder(depth * 6 + 1);
        for (int i = 0; i < depth; i++) b.append(objects ? "{\"k\":" : "[");
        b.append('1');
        for (int i = 0; i < depth; i++) b.append(objects ? '}' : ']');
        return new Raw(b.toString());
    }

    /** Shapes and offsets whose product or sum overflows int or long, or that overlap. */
    private static JArr overflowArray(SplittableRandom rnd) {
        long[][] pool = {{1L << 32, 1L << 32}, {1L << 62, 4}, {Long.MAX_VALUE}, {Long.MAX_VALUE, 2}, {0, 0}, {-1},
                {3037000500L, 3037000500L}, {65536, 65536, 65536}, {1L << 31}, {0, Long.MAX_VALUE}, {8, 4}, {2, 2, 2, 2, 2, 2, 2, 2, 2}};
        List<Object> items = new ArrayList<>();
        for (long v : pool[rnd.nextInt(pool.length)]) items.add(v);
        return new JArr(items);
    }

    /** One mutation of the document {@code seedText}; returns the bytes to write. */
    static Mutator.Mutant mutate(String seedText, SplittableRandom rnd) {
        Object root = tree(seedText);
        List<Slot> all = new ArrayList<>();
        slots(root, 0, all);
        int op = rnd.nextInt(100);
        if (all.isEmpty() || op >= 85) return textLevel(serialize(root), rnd);
        Slot s = pick(all, rnd);
        String what;
        if (op < 40) {
            Object v = poolValue(rnd);
            s.set(v);
            what = "value at depth " + s.depth() + " -> " + describe(v);
        } else if (op < 50) {
            Object old = s.get();
            if (old instanceof Long l) {
                long v = new long[]{l + 1, l - 1, l * 2, l + (1L << 32), -l, l + 4096}[rnd.nextInt(6)];
                s.set(v);
                what = "number " + l + " -> " + v;
            } else {
                Object v = poolValue(rnd);
                s.set(v);
                what = "value at depth " + s.depth() + " -> " + describe(v);
            }
        } else if (op < 62) {
            Slot from = pick(all, rnd);
            Object v = copy(from.get());
            s.set(v);
            what = "value at depth " + s.depth() + " replaced by a copy of another (depth " + from.depth() + ")";
        } else if (op < 74 && s.container() instanceof JObj o) {
            Object[] e = o.entries().get(s.index());
            Object v = rnd.nextBoolean() ? copy(e[1]) : poolValue(rnd);
            o.entries().add(rnd.nextInt(o.entries().size() + 1), new Object[]{e[0], v});
            what = "duplicate key \"" + e[0] + "\"";
        } else if (op < 80) {
            if (s.container() instanceof JObj o) o.entries().remove(s.index());
            else ((JArr) s.container()).items().remove(s.index());
            what = "removed an entry at depth " + s.depth();
        } else {
            // a numeric array (shape, data_offsets, eos ids) gets values that overflow or overlap
            JArr a = null;
            for (int tries = 0; tries < 20 && a == null; tries++) {
                Object v = all.get(rnd.nextInt(all.size())).get();
                if (v instanceof JArr arr && !arr.items().isEmpty() && arr.items().getFirst() instanceof Long) a = arr;
            }
            if (a == null) a = new JArr(new ArrayList<>());
            JArr o = overflowArray(rnd);
            a.items().clear();
            a.items().addAll(o.items());
            what = "numeric array -> " + o.items();
        }
        return new Mutator.Mutant(serialize(root), what);
    }

    /** Cuts at a structural character, or puts bytes that are not UTF-8 / control characters somewhere. */
    static Mutator.Mutant textLevel(byte[] text, SplittableRandom rnd) {
        if (text.length == 0) return new Mutator.Mutant(text, "empty");
        int at = rnd.nextInt(text.length);
        switch (rnd.nextInt(4)) {
            case 0 -> {
                for (int i = at; i < text.length; i++) {
                    byte c = text[i];
                    if (c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == '"') {
                        return new Mutator.Mutant(java.util.Arrays.copyOf(text, i + rnd.nextInt(2)), "text cut at " + i);
                    }
                }
                return new Mutator.Mutant(java.util.Arrays.copyOf(text, at), "text cut at " + at);
            }
            case 1 -> {
                byte[][] bad = {{(byte) 0xff}, {(byte) 0x80}, {(byte) 0xc0, (byte) 0x80}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
                        {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {0}, {1}, {'\n'}};
                byte[] ins = bad[rnd.nextInt(bad.length)];
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(text, 0, at);
                out.writeBytes(ins);
                out.write(text, at, text.length - at);
                return new Mutator.Mutant(out.toByteArray(), "inserted " + ins.length + " odd bytes at " + at);
            }
            case 2 -> {
                String[] esc = {"\\u12", "\\ud800", "\\udc00\\ud800", "\\x41", "\\", "\\u0000", "\"\"\""};
                String e = esc[rnd.nextInt(esc.length)];
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(text, 0, at);
                out.writeBytes(e.getBytes(StandardCharsets.UTF_8));
                out.write(text, at, text.length - at);
                return new Mutator.Mutant(out.toByteArray(), "inserted " + e + " at " + at);
            }
            default -> {
                byte[] b = text.clone();
                b[at] ^= (byte) (1 << rnd.nextInt(8));
                return new Mutator.Mutant(b, "text bit flip at " + at);
            }
        }
    }

    static byte[] serialize(Object v) {
        StringBuilder b = new StringBuilder();
        write(b, v);
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void write(StringBuilder b, Object v) {
        if (v == null) b.append("null");
        else if (v instanceof Raw r) b.append(r.text());
        else if (v instanceof String s) string(b, s);
        else if (v instanceof Double d) b.append(d.isNaN() || d.isInfinite() ? "0" : Double.toString(d));
        else if (v instanceof Number || v instanceof Boolean) b.append(v);
        else if (v instanceof JArr a) {
            b.append('[');
            for (int i = 0; i < a.items().size(); i++) {
                if (i > 0) b.append(',');
                write(b, a.items().get(i));
            }
            b.append(']');
        } else if (v instanceof JObj o) {
            b.append('{');
            for (int i = 0; i < o.entries().size(); i++) {
                if (i > 0) b.append(',');
                string(b, (String) o.entries().get(i)[0]);
                b.append(':');
                write(b, o.entries().get(i)[1]);
            }
            b.append('}');
        } else throw new IllegalArgumentException(v.getClass().toString());
    }

    private static void string(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || Character.isSurrogate(c)) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        b.append('"');
    }

    private static String describe(Object v) {
        if (v instanceof Raw r) return r.text().length() > 40 ? "raw text of " + r.text().length() + " chars" : r.text();
        if (v instanceof JArr a) return "array " + a.items();
        if (v instanceof JObj) return "object";
        if (v instanceof String s) return "\"" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "\"";
        return String.valueOf(v);
    }
}
