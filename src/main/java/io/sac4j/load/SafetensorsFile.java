package io.sac4j.load;

import io.sac4j.SacException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One {@code .safetensors} file: a little-endian u64 header length, a JSON header
 * {@code {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}}, then the data, which
 * the tensors must cover exactly (ordered, no overlap, no gaps), as the reference implementation requires.
 * Everything is checked when the file is opened; tensors are slices of the mapping, never copied.
 */
public final class SafetensorsFile {
    /** The reference implementation's limit; a longer header is a corrupt length field, not a real header. */
    static final long MAX_HEADER = 100_000_000;
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1),
            Map.entry("F8_E4M3", 1), Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2),
            Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("F64", 8), Map.entry("I64", 8), Map.entry("U64", 8));

    /** A header entry; begin/end are relative to the start of the data section. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    }

    private final String source;
    private final MemorySegment data;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(String source, MemorySegment data, Map<String, Entry> entries, Map<String, String> metadata) {
        this.source = source;
        this.data = data;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Maps {@code file} read-only into {@code arena} and validates its header. */
    public static SafetensorsFile open(Path file, Arena arena) {
        return parse(file.toString(), Mapped.map(file, arena));
    }

    static SafetensorsFile parse(String src, MemorySegment seg) {
        long size = seg.byteSize();
        if (size < 8) throw new SacException(src, "truncated: " + size + " bytes, too short for a safetensors header");
        long n = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER)
            throw new SacException(src, "corrupt safetensors header length " + Long.toUnsignedString(n));
        if (n > size - 8)
            throw new SacException(src, "truncated: header length " + n + " runs past the end of the file (" + size + " bytes)");
        String text;
        try {
            ByteBuffer bytes = seg.asSlice(8, n).asByteBuffer();
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw new SacException(src, "safetensors header is not valid UTF-8");
        }
        Map<String, Object> header = Json.parseObject(text, src);
        MemorySegment data = seg.asSlice(8 + n);

        Map<String, String> meta = new LinkedHashMap<>();
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : header.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> m)) throw new SacException(src, "__metadata__ must be an object");
                for (Map.Entry<?, ?> me : m.entrySet()) {
                    if (!(me.getValue() instanceof String v))
                        throw new SacException(src, "__metadata__ value of \"" + me.getKey() + "\" must be a string");
                    meta.put((String) me.getKey(), v);
                }
                continue;
            }
            entries.put(name, entry(src, name, e.getValue(), data.byteSize()));
        }
        checkLayout(src, entries.values(), data.byteSize());
        return new SafetensorsFile(src, data, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(meta));
    }

    private static Entry entry(String src, String name, Object v, long dataSize) {
        if (!(v instanceof Map<?, ?> m)) throw new SacException(src, "header entry \"" + name + "\" must be an object");
        if (!(m.get("dtype") instanceof String dtype)) throw new SacException(src, "tensor " + name + ": missing dtype");
        Integer elemBytes = DTYPE_BYTES.get(dtype);
        if (elemBytes == null) throw new SacException(src, "tensor " + name + " has unknown dtype " + dtype);
        long[] shape = longs(src, name, "shape", m.get("shape"), -1);
        long[] off = longs(src, name, "data_offsets", m.get("data_offsets"), 2);
        long begin = off[0], end = off[1];
        if (begin > end || end > dataSize)
            throw new SacException(src, "tensor " + name + " data_offsets [" + begin + ", " + end
                    + "] are out of bounds (the data section has " + dataSize + " bytes)");
        long bytes;
        try {
            long count = 1;
            for (long d : shape) count = Math.multiplyExact(count, d);
            bytes = Math.multiplyExact(count, (long) elemBytes);
        } catch (ArithmeticException ex) {
            throw new SacException(src, "tensor " + name + " shape " + Arrays.toString(shape) + " is too large");
        }
        if (bytes != end - begin)
            throw new SacException(src, "tensor " + name + " has " + (end - begin) + " bytes of data, but " + dtype + " "
                    + Arrays.toString(shape) + " needs " + bytes);
        return new Entry(name, dtype, shape, begin, end);
    }

    /** A JSON list of non-negative integers ({@code len} of them unless -1). */
    private static long[] longs(String src, String name, String key, Object v, int len) {
        if (!(v instanceof List<?> list) || (len >= 0 && list.size() != len))
            throw new SacException(src, "tensor " + name + ": \"" + key + "\" must be a list of " + (len >= 0 ? len + " " : "") + "integers");
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l) || l < 0)
                throw new SacException(src, "tensor " + name + ": \"" + key + "\" has a bad value " + list.get(i));
            out[i] = l;
        }
        return out;
    }

    /** Tensors must tile the data section: sorted by offset, each starts where the previous ended, none left over. */
    private static void checkLayout(String src, java.util.Collection<Entry> all, long dataSize) {
        List<Entry> sorted = new ArrayList<>(all);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long pos = 0;
        Entry prev = null;
        for (Entry e : sorted) {
            if (e.begin() < pos)
                throw new SacException(src, "tensor " + e.name() + " data_offsets [" + e.begin() + ", " + e.end()
                        + "] overlap tensor " + prev.name() + " [" + prev.begin() + ", " + prev.end() + "]");
            if (e.begin() > pos)
                throw new SacException(src, "tensor " + e.name() + " data_offsets [" + e.begin() + ", " + e.end()
                        + "] leave a gap after byte " + pos + " of the data section");
            pos = e.end();
            prev = e;
        }
        if (pos != dataSize)
            throw new SacException(src, (dataSize - pos) + " bytes of data after the last tensor (data section has "
                    + dataSize + " bytes, tensors end at " + pos + ")");
    }

    public String source() {
        return source;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return entries.keySet();
    }

    public Entry entry(String name) {
        return entries.get(name);
    }

    /** The {@code __metadata__} strings (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor {@code name}, or null when absent; an error when its dtype is not F32, F16 or BF16. */
    public Tensor tensor(String name) {
        Entry e = entries.get(name);
        if (e == null) return null;
        DType type = switch (e.dtype()) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            default -> throw new SacException(source, "tensor " + name + " has dtype " + e.dtype()
                    + ", which is not supported (F32, F16, BF16)");
        };
        return new Tensor(name, type, e.shape().clone(), data.asSlice(e.begin(), e.end() - e.begin()));
    }
}
