package io.sac4j.fuzz;

import io.sac4j.fuzz.Mutator.Field;
import io.sac4j.fuzz.Mutator.Layout;
import io.sac4j.load.Json;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Independent walkers over the seed files of each format, written from the format descriptions (not from the
 * parsers under test): they list the section boundaries and the size/count/offset fields that the mutations aim at.
 * They only read well-formed seeds.
 */
final class Layouts {
    private Layouts() {
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** llama2.c checkpoint: 7 int32 header fields, then float32 tensors in run.c's order. */
    static Layout llama2cBin(byte[] b) {
        ByteBuffer bb = le(b);
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        List<Field> fields = new ArrayList<>();
        for (int i = 0; i < 7; i++) fields.add(new Field(4 * i, 4, names[i]));
        long dim = bb.getInt(0), hidden = bb.getInt(4), layers = bb.getInt(8), heads = bb.getInt(12), kv = bb.getInt(16);
        long vocab = Math.abs(bb.getInt(20)), seq = bb.getInt(24), head = dim / heads, kvDim = kv * head;
        long[] sections = {vocab * dim, layers * dim, layers * dim * dim, layers * kvDim * dim, layers * kvDim * dim,
                layers * dim * dim, layers * dim, layers * hidden * dim, layers * dim * hidden, layers * hidden * dim, dim,
                seq * head, bb.getInt(20) < 0 ? vocab * dim : 0};
        List<Integer> bounds = new ArrayList<>(List.of(0, 28));
        List<int[]> data = new ArrayList<>();
        long pos = 28;
        for (long floats : sections) {
            data.add(new int[]{(int) pos, (int) (pos + 4 * floats)});
            pos += 4 * floats;
            bounds.add((int) pos);
        }
        return Layout.of(28, bounds, fields, data);
    }

    /** llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes. */
    static Layout llama2cTokenizer(byte[] b) {
        ByteBuffer bb = le(b);
        List<Field> fields = new ArrayList<>(List.of(new Field(0, 4, "max_token_length")));
        List<Integer> bounds = new ArrayList<>(List.of(0, 4));
        List<int[]> scores = new ArrayList<>();
        int pos = 4, i = 0;
        while (pos + 8 <= b.length) {
            scores.add(new int[]{pos, pos + 4});
            fields.add(new Field(pos + 4, 4, "length of token " + i));
            int len = bb.getInt(pos + 4);
            pos += 8 + len;
            bounds.add(pos);
            i++;
        }
        return Layout.of(b.length, bounds, fields, scores);
    }

    /** safetensors: u64 header length, JSON header, data; boundaries at each tensor's data. */
    static Layout safetensors(byte[] b) {
        long n = le(b).getLong(0);
        int dataStart = (int) (8 + n);
        List<Integer> bounds = new ArrayList<>(List.of(0, 8, dataStart, b.length));
        List<int[]> data = new ArrayList<>();
        Map<String, Object> header = Json.parseObject(new String(b, 8, (int) n, StandardCharsets.UTF_8), "seed");
        for (Map.Entry<String, Object> e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) continue;
            Map<?, ?> t = (Map<?, ?>) e.getValue();
            List<?> off = (List<?>) t.get("data_offsets");
            int from = dataStart + ((Long) off.get(0)).intValue(), to = dataStart + ((Long) off.get(1)).intValue();
            bounds.add(from);
            if ("F32".equals(t.get("dtype"))) data.add(new int[]{from, to});
        }
        return Layout.of(dataStart, bounds, List.of(new Field(0, 8, "header length")), data);
    }

    /** GGUF v2/v3: header counts, metadata key/values, tensor infos, aligned data. */
    static Layout gguf(byte[] b) {
        ByteBuffer bb = le(b);
        List<Field> fields = new ArrayList<>(List.of(new Field(4, 4, "version"), new Field(8, 8, "tensor count"),
                new Field(16, 8, "metadata count")));
        List<Integer> bounds = new ArrayList<>(List.of(0, 4, 8, 16, 24));
        long nTensors = bb.getLong(8), nKv = bb.getLong(16);
        int[] pos = {24};
        long alignment = 32;
        for (long i = 0; i < nKv; i++) {
            bounds.add(pos[0]);
            String key = ggufString(bb, pos, fields, "key length");
            fields.add(new Field(pos[0], 4, "type of " + key));
            int type = bb.getInt(pos[0]);
            pos[0] += 4;
            Object v = ggufValue(bb, type, pos, fields, key);
            if (key.equals("general.alignment") && v instanceof Long l) alignment = l;
        }
        List<long[]> tensors = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            bounds.add(pos[0]);
            String name = ggufString(bb, pos, fields, "name length");
            fields.add(new Field(pos[0], 4, "n_dims of " + name));
            int nd = bb.getInt(pos[0]);
            pos[0] += 4;
            long elements = 1;
            for (int d = 0; d < nd; d++) {
                fields.add(new Field(pos[0], 8, "ne[" + d + "] of " + name));
                elements *= bb.getLong(pos[0]);
                pos[0] += 8;
            }
            fields.add(new Field(pos[0], 4, "type of " + name));
            int type = bb.getInt(pos[0]);
            pos[0] += 4;
            fields.add(new Field(pos[0], 8, "offset of " + name));
            tensors.add(new long[]{bb.getLong(pos[0]), type, elements});
            pos[0] += 8;
        }
        bounds.add(pos[0]);
        int headerEnd = pos[0];
        long dataStart = (pos[0] + alignment - 1) / alignment * alignment;
        bounds.add((int) dataStart);
        List<int[]> data = new ArrayList<>();
        for (long[] t : tensors) {
            int from = (int) (dataStart + t[0]);
            bounds.add(from);
            if (t[1] == 0) data.add(new int[]{from, (int) (from + 4 * t[2])});
        }
        bounds.add(b.length);
        return Layout.of(headerEnd, bounds, fields, data);
    }

    private static String ggufString(ByteBuffer bb, int[] pos, List<Field> fields, String what) {
        fields.add(new Field(pos[0], 8, what));
        int len = (int) bb.getLong(pos[0]);
        byte[] s = new byte[len];
        bb.get(pos[0] + 8, s);
        pos[0] += 8 + len;
        return new String(s, StandardCharsets.UTF_8);
    }

    private static Object ggufValue(ByteBuffer bb, int type, int[] pos, List<Field> fields, String key) {
        switch (type) {
            case 0, 1, 7 -> { pos[0] += 1; return null; }
            case 2, 3 -> { pos[0] += 2; return null; }
            case 4, 5 -> { long v = bb.getInt(pos[0]) & 0xffffffffL; fields.add(new Field(pos[0], 4, key)); pos[0] += 4; return v; }
            case 6 -> { pos[0] += 4; return null; }
            case 8 -> { ggufString(bb, pos, fields, "length of " + key); return null; }
            case 9 -> {
                fields.add(new Field(pos[0], 4, "array type of " + key));
                int et = bb.getInt(pos[0]);
                fields.add(new Field(pos[0] + 4, 8, "array length of " + key));
                long n = bb.getLong(pos[0] + 4);
                pos[0] += 12;
                // only the first few elements' fields are listed: a vocabulary has thousands
                List<Field> sink = new ArrayList<>();
                for (long i = 0; i < n; i++) ggufValue(bb, et, pos, i < 4 ? fields : sink, key + "[" + i + "]");
                return null;
            }
            case 10, 11 -> { long v = bb.getLong(pos[0]); fields.add(new Field(pos[0], 8, key)); pos[0] += 8; return v; }
            case 12 -> { pos[0] += 8; return null; }
            default -> throw new IllegalArgumentException("seed has GGUF type " + type);
        }
    }

    /** .sac: magic, version, two u16-length strings, eight u32 fields, float32 rows, SHA-256. */
    static Layout sac(byte[] b) {
        ByteBuffer bb = le(b);
        List<Field> fields = new ArrayList<>(List.of(new Field(8, 4, "version")));
        List<Integer> bounds = new ArrayList<>(List.of(0, 8, 12));
        int pos = 12;
        for (String s : new String[]{"model fingerprint", "adapter fingerprint"}) {
            fields.add(new Field(pos, 2, s + " length"));
            int n = bb.getShort(pos) & 0xffff;
            pos += 2 + n;
            bounds.add(pos - n);
            bounds.add(pos);
        }
        String[] names = {"ratio", "context tokens", "anchors", "kind", "layers", "kv heads", "head dim", "dtype"};
        for (String n : names) {
            fields.add(new Field(pos, 4, n));
            pos += 4;
            bounds.add(pos);
        }
        int headerEnd = pos;
        int layers = bb.getInt(pos - 16), rowFloats = bb.getInt(pos - 24) * bb.getInt(pos - 12) * bb.getInt(pos - 8);
        for (int l = 0; l < 2 * layers; l++) {
            pos += 4 * rowFloats;
            bounds.add(pos);
        }
        bounds.add(b.length);
        return Layout.of(headerEnd, bounds, fields, List.of(new int[]{headerEnd, b.length - 32}));
    }

    /** A zip archive: local headers, central directory and end record found by their signatures. */
    static Layout zip(byte[] b) {
        ByteBuffer bb = le(b);
        List<Field> fields = new ArrayList<>();
        List<Integer> bounds = new ArrayList<>(List.of(0, b.length));
        int cdStart = b.length;
        for (int i = 0; i + 4 <= b.length; i++) {
            int sig = bb.getInt(i);
            if (sig == 0x04034b50 && i + 30 <= b.length) {
                bounds.add(i);
                bounds.add(i + 30);
                fields.add(new Field(i + 14, 4, "local crc"));
                fields.add(new Field(i + 18, 4, "local compressed size"));
                fields.add(new Field(i + 22, 4, "local size"));
                fields.add(new Field(i + 26, 2, "local name length"));
                fields.add(new Field(i + 28, 2, "local extra length"));
                fields.add(new Field(i + 8, 2, "local method"));
            } else if (sig == 0x02014b50 && i + 46 <= b.length) {
                bounds.add(i);
                cdStart = Math.min(cdStart, i);
                fields.add(new Field(i + 10, 2, "method"));
                fields.add(new Field(i + 16, 4, "crc"));
                fields.add(new Field(i + 20, 4, "compressed size"));
                fields.add(new Field(i + 24, 4, "size"));
                fields.add(new Field(i + 28, 2, "name length"));
                fields.add(new Field(i + 30, 2, "extra length"));
                fields.add(new Field(i + 42, 4, "local header offset"));
            } else if (sig == 0x06054b50 && i + 22 <= b.length) {
                bounds.add(i);
                fields.add(new Field(i + 8, 2, "entries on disk"));
                fields.add(new Field(i + 10, 2, "entries"));
                fields.add(new Field(i + 12, 4, "central directory size"));
                fields.add(new Field(i + 16, 4, "central directory offset"));
                fields.add(new Field(i + 20, 2, "comment length"));
            } else if (sig == 0x06064b50 || sig == 0x07064b50) {
                bounds.add(i);
            }
        }
        return Layout.of(cdStart, bounds, fields, List.of());
    }

    /**
     * A pickle (protocol 2-5 as torch.save writes it): opcode starts and the integer/length operands. It may be
     * given a mutated pickle (mutations stack), so it stops where the operands stop making sense.
     */
    static Layout pickle(byte[] b) {
        List<Field> fields = new ArrayList<>();
        List<Integer> bounds = new ArrayList<>(List.of(b.length));
        int pos = 0;
        walk:
        for (int prev = -1; pos < b.length && pos > prev; ) {
            prev = pos;
            bounds.add(pos);
            int op = b[pos] & 0xff, at = pos + 1;
            if (at + 8 > b.length) break;
            switch (op) {
                case 0x80, 'K', 'q', 'h' -> { fields.add(new Field(at, 1, opName(op))); pos = at + 1; }
                case 'M' -> { fields.add(new Field(at, 2, "BININT2")); pos = at + 2; }
                case 'J', 'r', 'j' -> { fields.add(new Field(at, 4, opName(op))); pos = at + 4; }
                case 0x95 -> { fields.add(new Field(at, 8, "FRAME")); pos = at + 8; }
                case 'X' -> { fields.add(new Field(at, 4, "BINUNICODE length")); pos = at + 4 + le(b).getInt(at); }
                case 0x8c -> { fields.add(new Field(at, 1, "SHORT_BINUNICODE length")); pos = at + 1 + (b[at] & 0xff); }
                case 0x8a -> {
                    int n = b[at] & 0xff;
                    fields.add(new Field(at, 1, "LONG1 length"));
                    if (n == 1 || n == 2 || n == 4 || n == 8) fields.add(new Field(at + 1, n, "LONG1"));
                    pos = at + 1 + n;
                }
                case 'c' -> {
                    int nl = 0;
                    for (pos = at; pos < b.length && nl < 2; pos++) if (b[pos] == '\n') nl++;
                }
                case '.' -> { pos = at; bounds.add(pos); break walk; }
                default -> pos = at; // opcodes without operands
            }
        }
        return Layout.of(b.length, bounds, fields, List.of());
    }

    private static String opName(int op) {
        return switch (op) {
            case 0x80 -> "PROTO";
            case 'K' -> "BININT1";
            case 'q' -> "BINPUT";
            case 'h' -> "BINGET";
            case 'J' -> "BININT";
            case 'r' -> "LONG_BINPUT";
            case 'j' -> "LONG_BINGET";
            default -> "op " + op;
        };
    }
}
