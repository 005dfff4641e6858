package io.sac4j.load;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Writes a GGUF v3 file ({@link GgufFile} and llama.cpp read it): metadata key/values in the order they were put,
 * tensor infos, then each tensor's data at a multiple of the alignment (32, or the u32 general.alignment when it
 * is put). Tensors are produced and written one
 * at a time, each in its own arena that is closed once its bytes are on disk, so a model larger than memory can be
 * written; the file appears atomically (temporary name, force, rename).
 *
 * <p>Shapes are given in torch order ([out, in] for a linear weight), as {@link Tensor} uses; the file stores them
 * reversed (ggml's ne[0] is the row length). {@link #ropePermute} gives the row order llama.cpp expects for the
 * q/k projections of a "llama" model.
 */
public final class GgufWriter {
    public static final int VERSION = 3;
    // gguf value types
    private static final int U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9;

    private record Value(int type, Object value) {
    }

    private record TensorEntry(String name, DType type, long[] shape, long bytes, Function<Arena, MemorySegment> data) {
    }

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<TensorEntry> tensors = new ArrayList<>();
    private final Map<String, Boolean> names = new LinkedHashMap<>();

    // ------------------------------------------------------------------ metadata

    public GgufWriter putString(String key, String v) {
        return put(key, STRING, v);
    }

    /** An unsigned 32-bit value (counts, sizes, token ids). */
    public GgufWriter putU32(String key, long v) {
        if (v < 0 || v > 0xffffffffL) throw new IllegalArgumentException(key + ": " + v + " is not a u32");
        return put(key, U32, v);
    }

    public GgufWriter putI32(String key, int v) {
        return put(key, I32, v);
    }

    public GgufWriter putF32(String key, float v) {
        return put(key, F32, v);
    }

    public GgufWriter putBool(String key, boolean v) {
        return put(key, BOOL, v);
    }

    public GgufWriter putStrings(String key, String[] v) {
        return put(key, ARRAY, v.clone());
    }

    public GgufWriter putI32s(String key, int[] v) {
        return put(key, ARRAY, v.clone());
    }

    public GgufWriter putF32s(String key, float[] v) {
        return put(key, ARRAY, v.clone());
    }

    private GgufWriter put(String key, int type, Object v) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("empty metadata key");
        if (v == null) throw new IllegalArgumentException(key + ": null value");
        if (metadata.containsKey(key)) throw new IllegalArgumentException("duplicate metadata key " + key);
        metadata.put(key, new Value(type, v));
        return this;
    }

    // ------------------------------------------------------------------ tensors

    /**
     * Adds a tensor of {@code shape} (torch order, 1 to 4 dimensions; the last is the row length and must be a
     * multiple of the type's block size). {@code data} makes exactly its bytes in the given arena when it is written.
     */
    public GgufWriter addTensor(String name, DType type, long[] shape, Function<Arena, MemorySegment> data) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("empty tensor name");
        if (names.put(name, Boolean.TRUE) != null) throw new IllegalArgumentException("duplicate tensor " + name);
        if (shape.length < 1 || shape.length > GgufFile.MAX_DIMS)
            throw new IllegalArgumentException(name + ": " + shape.length + " dimensions (1 to " + GgufFile.MAX_DIMS + ")");
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException(name + ": negative dimension");
            n = Math.multiplyExact(n, d);
        }
        if (shape[shape.length - 1] % type.blockSize != 0)
            throw new IllegalArgumentException(name + ": rows of " + shape[shape.length - 1] + " are not a multiple of "
                    + type + "'s block of " + type.blockSize);
        tensors.add(new TensorEntry(name, type, shape.clone(), type.bytes(n), data));
        return this;
    }

    /** Adds a tensor already in memory. */
    public GgufWriter addTensor(String name, Tensor t) {
        return addTensor(name, t.type(), t.shape(), arena -> t.data());
    }

    /** Writes the file atomically. */
    public void write(Path file) {
        byte[] header = header();
        int alignment = alignment();
        SafetensorsFileWriter.atomically(file, ch -> {
            SafetensorsFileWriter.writeFully(ch, ByteBuffer.wrap(header));
            for (TensorEntry t : tensors) {
                try (Arena arena = Arena.ofShared()) { // shared: makers may fill the segment from several threads
                    MemorySegment data = t.data().apply(arena);
                    if (data.byteSize() != t.bytes())
                        throw new IllegalStateException("tensor " + t.name() + ": " + data.byteSize() + " bytes given, "
                                + t.bytes() + " expected");
                    SafetensorsFileWriter.writeSegment(ch, data);
                    SafetensorsFileWriter.writeFully(ch, ByteBuffer.wrap(new byte[pad(t.bytes(), alignment)]));
                }
            }
        });
    }

    /** Everything before the first tensor's data, padding included. */
    byte[] header() {
        int alignment = alignment();
        Out o = new Out();
        o.u32(GgufFile.MAGIC);
        o.u32(VERSION);
        o.u64(tensors.size());
        o.u64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            o.str(e.getKey());
            Value v = e.getValue();
            o.u32(v.type());
            switch (v.value()) {
                case String s -> o.str(s);
                case Long l -> o.u32((int) (long) l);
                case Integer i -> o.u32(i);
                case Float f -> o.u32(Float.floatToRawIntBits(f));
                case Boolean b -> o.b.write(b ? 1 : 0);
                case String[] a -> {
                    o.u32(STRING);
                    o.u64(a.length);
                    for (String s : a) o.str(s);
                }
                case int[] a -> {
                    o.u32(I32);
                    o.u64(a.length);
                    for (int x : a) o.u32(x);
                }
                case float[] a -> {
                    o.u32(F32);
                    o.u64(a.length);
                    for (float x : a) o.u32(Float.floatToRawIntBits(x));
                }
                default -> throw new IllegalStateException("unexpected metadata value " + v.value().getClass());
            }
        }
        long offset = 0;
        for (TensorEntry t : tensors) {
            o.str(t.name());
            o.u32(t.shape().length);
            for (int d = t.shape().length - 1; d >= 0; d--) o.u64(t.shape()[d]); // ggml order: row length first
            o.u32(ggmlType(t.type()));
            o.u64(offset);
            offset = Math.addExact(offset, t.bytes() + pad(t.bytes(), alignment));
        }
        int pad = pad(o.b.size(), alignment);
        o.b.write(new byte[pad], 0, pad);
        return o.b.toByteArray();
    }

    /** general.alignment when it was put (a u32 power of two), else GGUF's default 32. */
    private int alignment() {
        Value v = metadata.get("general.alignment");
        if (v == null) return GgufFile.DEFAULT_ALIGNMENT;
        if (v.type() != U32 || !(v.value() instanceof Long a) || a <= 0 || a > (1 << 30) || Long.bitCount(a) != 1)
            throw new IllegalArgumentException("general.alignment must be a u32 power of two, got " + v.value());
        return (int) (long) a;
    }

    private static int pad(long n, int alignment) {
        return (int) ((alignment - n % alignment) % alignment);
    }

    static int ggmlType(DType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 8;
            case BF16 -> 30;
        };
    }

    /**
     * llama.cpp's converter permutation of a Llama q or k projection ({@code heads} heads of {@code rows / heads}
     * rows each): within a head, rows [0, h/2) and [h/2, h) are interleaved, so new row 2i+j is old row j*h/2+i.
     * HF rotates the pairs (x[i], x[i+h/2]); llama.cpp rotates adjacent pairs, which this order makes the same pairs.
     * Whole rows move, so quantised rows (Q8_0 blocks) are permuted as they are.
     */
    public static MemorySegment ropePermute(MemorySegment src, long rowBytes, int rows, int heads, Arena arena) {
        if (heads <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0)
            throw new IllegalArgumentException(rows + " rows do not split into " + heads + " heads of an even size");
        if (src.byteSize() != rowBytes * rows)
            throw new IllegalArgumentException(src.byteSize() + " bytes for " + rows + " rows of " + rowBytes);
        int h = rows / heads, half = h / 2;
        MemorySegment dst = arena.allocate(src.byteSize(), 64);
        for (int head = 0; head < heads; head++) {
            for (int i = 0; i < half; i++) {
                for (int j = 0; j < 2; j++) {
                    long from = (long) head * h + (long) j * half + i, to = (long) head * h + 2L * i + j;
                    MemorySegment.copy(src, from * rowBytes, dst, to * rowBytes, rowBytes);
                }
            }
        }
        return dst;
    }

    /** A little-endian byte sink for the header. */
    private static final class Out {
        final ByteArrayOutputStream b = new ByteArrayOutputStream(1 << 16);

        void u32(int v) {
            b.write(v);
            b.write(v >>> 8);
            b.write(v >>> 16);
            b.write(v >>> 24);
        }

        void u64(long v) {
            u32((int) v);
            u32((int) (v >>> 32));
        }

        void str(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            b.write(bytes, 0, bytes.length);
        }
    }
}
