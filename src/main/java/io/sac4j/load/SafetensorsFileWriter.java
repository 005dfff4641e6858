package io.sac4j.load;

import io.sac4j.SacException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Writes a {@code .safetensors} file ({@link SafetensorsFile} reads it back) one tensor at a time: the header is
 * computed from the declared names, types and shapes, then each tensor's bytes are produced in their own arena,
 * copied to disk and freed before the next one, so a model larger than memory can be written. The file appears
 * atomically: it is written under a temporary name in the same directory, forced to disk and renamed.
 *
 * <p>(The name is not SafetensorsWriter because the loader tests have a helper of that name in this package.)
 */
public final class SafetensorsFileWriter {
    /** Bytes per write call; large segments are written in slices of this size. */
    static final int CHUNK = 64 << 20;

    /**
     * One tensor to write. {@code data} makes its bytes (little-endian, row-major, exactly the size the type and
     * shape need) in the arena it is given; the arena is closed once they are on disk.
     */
    public record Entry(String name, DType type, long[] shape, Function<Arena, MemorySegment> data) {
        public Entry {
            if (name == null || name.isEmpty() || name.equals("__metadata__"))
                throw new IllegalArgumentException("bad tensor name '" + name + "'");
            if (type == DType.Q8_0) throw new IllegalArgumentException(name + ": safetensors has no Q8_0 type");
            shape = shape.clone();
            for (long d : shape) if (d < 0) throw new IllegalArgumentException(name + ": negative dimension");
        }

        /** An entry for a tensor already in memory. */
        public static Entry of(String name, Tensor t) {
            return new Entry(name, t.type(), t.shape(), arena -> t.data());
        }

        long bytes() {
            long n = 1;
            for (long d : shape) n = Math.multiplyExact(n, d);
            return type.bytes(n);
        }
    }

    private SafetensorsFileWriter() {
    }

    /** Writes {@code entries} (in this order) and the {@code __metadata__} strings (may be empty) to {@code file}. */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) {
        byte[] header = header(entries, metadata).getBytes(StandardCharsets.UTF_8);
        // pad the header with spaces so the data starts 8-byte aligned, as the reference implementation does
        int padded = (int) ((8 + header.length + 7) / 8 * 8 - 8);
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(header);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        atomically(file, ch -> {
            writeFully(ch, head);
            for (Entry e : entries) {
                try (Arena arena = Arena.ofShared()) { // shared: makers may fill the segment from several threads
                    MemorySegment data = e.data().apply(arena);
                    if (data.byteSize() != e.bytes())
                        throw new IllegalStateException("tensor " + e.name() + ": " + data.byteSize()
                                + " bytes given, " + e.bytes() + " expected");
                    writeSegment(ch, data);
                }
            }
        });
    }

    /** The JSON header: __metadata__ first (when given), then the tensors with consecutive data offsets. */
    static String header(List<Entry> entries, Map<String, String> metadata) {
        Map<String, Object> h = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) h.put("__metadata__", new LinkedHashMap<>(metadata));
        Set<String> names = new HashSet<>();
        long pos = 0;
        for (Entry e : entries) {
            if (!names.add(e.name())) throw new IllegalArgumentException("duplicate tensor " + e.name());
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("dtype", e.type().name());
            List<Object> shape = new ArrayList<>();
            for (long d : e.shape()) shape.add(d);
            m.put("shape", shape);
            long end = Math.addExact(pos, e.bytes());
            m.put("data_offsets", List.of(pos, end));
            h.put(e.name(), m);
            pos = end;
        }
        return JsonOut.write(h);
    }

    // ------------------------------------------------------------------ shared with GgufWriter

    /** Writes through {@code body} to a temporary file next to {@code file}, forces it and renames it into place. */
    static void atomically(Path file, IoBody body) {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) throw new SacException(file, "the directory does not exist");
        if (Files.isDirectory(abs)) throw new SacException(file, "is a directory, expected a file name");
        Path tmp = null;
        try {
            // not createTempFile: its owner-only permissions would stay on the renamed file
            tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                body.write(ch);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new SacException(file.toString(), "cannot write: " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that error is the one to report
                }
            }
        }
    }

    /** What {@link #atomically} runs on the open temporary file. */
    @FunctionalInterface
    interface IoBody {
        void write(FileChannel ch) throws IOException;
    }

    static void writeSegment(FileChannel ch, MemorySegment data) throws IOException {
        for (long off = 0; off < data.byteSize(); off += CHUNK) {
            writeFully(ch, data.asSlice(off, Math.min(CHUNK, data.byteSize() - off)).asByteBuffer());
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
