package io.sac4j.load;

import io.sac4j.SacException;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3, little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
 * the metadata key/values, the tensor infos (name, n_dims, ne[] with ne[0] the row length, ggml type, offset), then
 * the tensor data from the first multiple of general.alignment (default 32). Every count, length and offset is
 * checked against the bytes that remain before anything is allocated, so a corrupt file gives a one-line error
 * instead of an OutOfMemoryError.
 *
 * <p>Metadata values: every integer type becomes {@link Long} (UINT64 above Long.MAX_VALUE keeps its bits, so it
 * reads negative), FLOAT32/FLOAT64 {@link Double}, STRING {@link String}, BOOL {@link Boolean}; arrays become
 * {@code long[]}, {@code double[]}, {@code String[]} or {@code boolean[]} by element type, and arrays of arrays
 * {@code Object[]} of those.
 */
public final class GgufFile {
    /** "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_DIMS = 4; // GGML_MAX_DIMS
    private static final int MAX_ARRAY_NESTING = 8;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** ggml_type ids by name, for messages; gaps are ids ggml has retired. */
    private static final String[] GGML_TYPE_NAMES = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
            "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
            "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", "Q4_0_4_4",
            "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0"};

    /**
     * One tensor's header entry. {@code shape} is in torch order (ne reversed, so a linear weight is [out, in]);
     * {@code offset} is relative to the data section; {@code type} is null when the ggml type is not one this
     * library reads (then {@code bytes} is -1).
     */
    public record TensorInfo(String name, long[] shape, int ggmlType, DType type, long offset, long bytes) {
    }

    private final String source;
    private final MemorySegment file;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;
    private final long alignment;
    private final long dataOffset;

    private GgufFile(String source, MemorySegment file, int version, Map<String, Object> metadata,
                     Map<String, TensorInfo> tensors, long alignment, long dataOffset) {
        this.source = source;
        this.file = file;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /** Whether {@code file} begins with the GGUF magic (false for directories, short or unreadable files). */
    public static boolean hasMagic(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (InputStream in = Files.newInputStream(file)) {
            byte[] b = in.readNBytes(4);
            return b.length == 4 && b[0] == 'G' && b[1] == 'G' && b[2] == 'U' && b[3] == 'F';
        } catch (IOException e) {
            return false;
        }
    }

    /** Maps {@code file} read-only into {@code arena} and parses its header. */
    public static GgufFile open(Path file, Arena arena) {
        return parse(file.toString(), Mapped.map(file, arena));
    }

    static GgufFile parse(String src, MemorySegment seg) {
        Reader r = new Reader(src, seg);
        if (seg.byteSize() < 4 || seg.get(I32, 0) != MAGIC)
            throw new SacException(src, "not a GGUF file (bad magic)");
        r.pos = 4;
        int version = r.u32("version");
        if (version != 2 && version != 3)
            throw new SacException(src, "GGUF version " + Integer.toUnsignedString(version) + " is not supported (only 2 and 3"
                    + (version == 1 ? "" : "; a big-endian file?") + ")");
        long nTensors = r.u64("tensor count");
        long nKv = r.u64("metadata count");
        // smallest possible entries: a metadata KV is 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8
        if (nKv < 0 || nKv > r.remaining() / 13)
            throw new SacException(src, "truncated or corrupt: metadata count " + Long.toUnsignedString(nKv)
                    + " does not fit in the " + r.remaining() + " bytes after the header");
        if (nTensors < 0 || nTensors > r.remaining() / 32)
            throw new SacException(src, "truncated or corrupt: tensor count " + Long.toUnsignedString(nTensors)
                    + " does not fit in the " + r.remaining() + " bytes after the header");

        Map<String, Object> md = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = r.string("metadata key");
            int type = r.u32("type of metadata " + key);
            Object v = r.value(type, key, 0);
            if (md.containsKey(key)) throw new SacException(src, "duplicate metadata key " + key);
            md.put(key, v);
        }
        long alignment = DEFAULT_ALIGNMENT;
        Object a = md.get("general.alignment");
        if (a != null) {
            if (!(a instanceof Long l) || l <= 0 || l > (1 << 30) || Long.bitCount(l) != 1)
                throw new SacException(src, "general.alignment " + a + " is not a power of two");
            alignment = l;
        }

        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        for (long i = 0; i < nTensors; i++) {
            String name = r.string("tensor name");
            int nd = r.u32("dimension count of tensor " + name);
            if (nd < 1 || nd > MAX_DIMS)
                throw new SacException(src, "tensor " + name + " has " + Integer.toUnsignedString(nd) + " dimensions (1 to " + MAX_DIMS + " allowed)");
            long[] shape = new long[nd];
            long elements = 1;
            for (int d = 0; d < nd; d++) {
                long ne = r.u64("shape of tensor " + name);
                if (ne < 0) throw new SacException(src, "tensor " + name + " has a bad dimension " + Long.toUnsignedString(ne));
                shape[nd - 1 - d] = ne; // ggml lists the fastest dimension first; torch order is the reverse
                try {
                    elements = Math.multiplyExact(elements, ne);
                } catch (ArithmeticException e) {
                    throw new SacException(src, "tensor " + name + " is too large");
                }
            }
            int type = r.u32("type of tensor " + name);
            long offset = r.u64("offset of tensor " + name);
            if (offset < 0) throw new SacException(src, "tensor " + name + " has a bad offset " + Long.toUnsignedString(offset));
            DType dt = dtype(type);
            long bytes = -1;
            if (dt != null) {
                long rowLen = shape[nd - 1];
                if (rowLen % dt.blockSize != 0)
                    throw new SacException(src, "tensor " + name + " has rows of " + rowLen + " values, not a multiple of the "
                            + dt + " block size " + dt.blockSize);
                try {
                    bytes = dt.bytes(elements);
                } catch (ArithmeticException e) {
                    throw new SacException(src, "tensor " + name + " is too large");
                }
            }
            if (infos.containsKey(name)) throw new SacException(src, "duplicate tensor " + name);
            infos.put(name, new TensorInfo(name, shape, type, dt, offset, bytes));
        }
        long dataOffset = Math.addExact(r.pos, (alignment - r.pos % alignment) % alignment);
        checkPlacement(src, infos.values(), alignment, dataOffset, seg.byteSize());
        return new GgufFile(src, seg, version, Collections.unmodifiableMap(md), Collections.unmodifiableMap(infos),
                alignment, dataOffset);
    }

    /** Every tensor aligned, inside the file, and (for the types whose size is known) not overlapping another. */
    private static void checkPlacement(String src, Collection<TensorInfo> all, long alignment, long dataOffset, long size) {
        List<TensorInfo> known = new ArrayList<>();
        for (TensorInfo t : all) {
            if (t.offset() % alignment != 0)
                throw new SacException(src, "tensor " + t.name() + " offset " + t.offset() + " is not a multiple of the alignment " + alignment);
            if (t.bytes() < 0) continue;
            long end;
            try {
                end = Math.addExact(Math.addExact(dataOffset, t.offset()), t.bytes());
            } catch (ArithmeticException e) {
                end = Long.MAX_VALUE;
            }
            if (end > size)
                throw new SacException(src, "truncated: tensor " + t.name() + " (" + t.bytes() + " bytes at data offset "
                        + t.offset() + ") ends at byte " + (end == Long.MAX_VALUE ? "beyond 2^63" : end)
                        + ", file has " + size);
            known.add(t);
        }
        known.sort(Comparator.comparingLong(TensorInfo::offset));
        for (int i = 1; i < known.size(); i++) {
            TensorInfo p = known.get(i - 1), t = known.get(i);
            if (t.offset() < p.offset() + p.bytes())
                throw new SacException(src, "tensor " + t.name() + " overlaps tensor " + p.name());
        }
    }

    /** The library's type for a ggml type id, or null when it cannot read that type. */
    static DType dtype(int ggmlType) {
        return switch (ggmlType) {
            case 0 -> DType.F32;
            case 1 -> DType.F16;
            case 8 -> DType.Q8_0;
            case 30 -> DType.BF16;
            default -> null;
        };
    }

    static String typeName(int ggmlType) {
        return ggmlType >= 0 && ggmlType < GGML_TYPE_NAMES.length ? GGML_TYPE_NAMES[ggmlType] : "unknown type";
    }

    public String source() {
        return source;
    }

    public int version() {
        return version;
    }

    public long alignment() {
        return alignment;
    }

    /** Byte offset of the data section in the file. */
    public long dataOffset() {
        return dataOffset;
    }

    /** All metadata, in file order (see the class comment for the value types). */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** Tensor infos by name, in file order. */
    public Map<String, TensorInfo> tensorInfos() {
        return tensors;
    }

    /** The tensor {@code name}, or null when absent; an error naming the tensor and type when the type is unreadable. */
    public Tensor tensor(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) return null;
        if (t.type() == null)
            throw new SacException(source, "tensor " + name + " has type " + typeName(t.ggmlType()) + " (" + t.ggmlType()
                    + "), which is not supported (F32, F16, BF16, Q8_0)");
        return new Tensor(name, t.type(), t.shape().clone(), file.asSlice(dataOffset + t.offset(), t.bytes()));
    }

    // ---- typed metadata access: a wrong type is an error naming the file and key ----

    /** An integer value, or {@code dflt} when the key is absent. */
    public long getLong(String key, long dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof Long l) return l;
        throw new SacException(source, "metadata " + key + " must be an integer, got " + describe(v));
    }

    /** A number (float or integer), or {@code dflt} when the key is absent. */
    public double getDouble(String key, double dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof Double d) return d;
        if (v instanceof Long l) return l;
        throw new SacException(source, "metadata " + key + " must be a number, got " + describe(v));
    }

    /** A string, or {@code dflt} when the key is absent. */
    public String getString(String key, String dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof String s) return s;
        throw new SacException(source, "metadata " + key + " must be a string, got " + describe(v));
    }

    private static String describe(Object v) {
        if (v instanceof long[] a) return "an integer array of " + a.length;
        if (v instanceof double[] a) return "a float array of " + a.length;
        if (v instanceof String[] a) return "a string array of " + a.length;
        if (v instanceof boolean[] a) return "a bool array of " + a.length;
        if (v instanceof Object[] a) return "an array of " + a.length + " arrays";
        return v instanceof String ? "\"" + v + "\"" : String.valueOf(v);
    }

    /** Bounds-checked little-endian reading of the header. */
    private static final class Reader {
        final String src;
        final MemorySegment seg;
        final long size;
        long pos;

        Reader(String src, MemorySegment seg) {
            this.src = src;
            this.seg = seg;
            this.size = seg.byteSize();
        }

        long remaining() {
            return size - pos;
        }

        void need(long n, String what) {
            if (n > size - pos)
                throw new SacException(src, "truncated: " + what + " at offset " + pos + " needs " + n
                        + " bytes, the file ends " + (size - pos) + " bytes later");
        }

        int u32(String what) {
            need(4, what);
            int v = seg.get(I32, pos);
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = seg.get(I64, pos);
            pos += 8;
            return v;
        }

        String string(String what) {
            long len = u64(what);
            if (len < 0 || len > size - pos)
                throw new SacException(src, "truncated: " + what + " at offset " + (pos - 8) + " claims "
                        + Long.toUnsignedString(len) + " bytes, the file ends " + (size - pos) + " bytes later");
            if (len > Integer.MAX_VALUE - 8) throw new SacException(src, what + " at offset " + (pos - 8) + " is too long");
            String s = new String(seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            pos += len;
            return s;
        }

        /** Bytes of one element of a type (8 + 0 for a string, 12 for an array header), or -1 if unknown. */
        static int minSize(int type) {
            return switch (type) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 8, 10, 11, 12 -> 8;
                case 9 -> 12;
                default -> -1;
            };
        }

        Object value(int type, String key, int depth) {
            String what = key; // only used in messages
            switch (type) {
                case 0: need(1, what); return (long) (seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff);
                case 1: need(1, what); return (long) seg.get(ValueLayout.JAVA_BYTE, pos++);
                case 2: need(2, what); pos += 2; return (long) (seg.get(I16, pos - 2) & 0xffff);
                case 3: need(2, what); pos += 2; return (long) seg.get(I16, pos - 2);
                case 4: return Integer.toUnsignedLong(u32(what));
                case 5: return (long) u32(what);
                case 6: return (double) Float.intBitsToFloat(u32(what));
                case 7: return bool(key);
                case 8: return string(what);
                case 9: return array(key, depth);
                case 10, 11: return u64(what);
                case 12: return Double.longBitsToDouble(u64(what));
                default:
                    throw new SacException(src, "metadata " + key + " has unknown value type " + Integer.toUnsignedString(type));
            }
        }

        boolean bool(String key) {
            need(1, "value of " + key);
            byte b = seg.get(ValueLayout.JAVA_BYTE, pos++);
            if (b != 0 && b != 1) throw new SacException(src, "metadata " + key + " has a bool value " + b);
            return b == 1;
        }

        Object array(String key, int depth) {
            if (depth >= MAX_ARRAY_NESTING) throw new SacException(src, "metadata " + key + " nests arrays too deeply");
            int type = u32("array type of " + key);
            long n = u64("array length of " + key);
            int min = minSize(type);
            if (min < 0) throw new SacException(src, "metadata " + key + " is an array of unknown type " + Integer.toUnsignedString(type));
            if (n < 0 || n > (size - pos) / min || n > Integer.MAX_VALUE - 8)
                throw new SacException(src, "truncated: metadata " + key + " claims " + Long.toUnsignedString(n)
                        + " array elements, the file ends " + (size - pos) + " bytes later");
            int len = (int) n;
            switch (type) {
                case 7 -> {
                    boolean[] out = new boolean[len];
                    for (int i = 0; i < len; i++) out[i] = bool(key);
                    return out;
                }
                case 8 -> {
                    String[] out = new String[len];
                    String what = "string in array " + key;
                    for (int i = 0; i < len; i++) out[i] = string(what);
                    return out;
                }
                case 9 -> {
                    Object[] out = new Object[len];
                    for (int i = 0; i < len; i++) out[i] = array(key, depth + 1);
                    return out;
                }
                case 6, 12 -> {
                    // fixed-size elements: the length check above already covers all of them
                    double[] out = new double[len];
                    for (int i = 0; i < len; i++) out[i] = (Double) value(type, key, depth);
                    return out;
                }
                default -> {
                    long[] out = new long[len];
                    for (int i = 0; i < len; i++) out[i] = (Long) value(type, key, depth);
                    return out;
                }
            }
        }
    }
}
