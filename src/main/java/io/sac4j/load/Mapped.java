package io.sac4j.load;

import io.sac4j.SacException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/** Helpers shared by the loaders: read-only mapping of a whole file, and tensor presence/shape checks. */
final class Mapped {
    private Mapped() {
    }

    /**
     * Maps {@code file} read-only into {@code arena}; the mapping lives until the arena is closed, independent of
     * the channel. An empty file maps to an empty segment (mmap refuses zero lengths).
     */
    static MemorySegment map(Path file, Arena arena) {
        if (Files.isDirectory(file)) throw new SacException(file, "is a directory, expected a file");
        notSpecial(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) return MemorySegment.ofArray(new byte[0]);
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new SacException(file, "no such file");
        } catch (AccessDeniedException e) {
            throw new SacException(file, "permission denied");
        } catch (IOException e) {
            throw new SacException(file.toString(), "cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * Refuses an existing path that is not a regular file: reading a FIFO (which a downloaded tar archive can hold)
     * blocks forever, and a device such as /dev/zero never ends.
     */
    static void notSpecial(Path file) {
        if (Files.exists(file) && !Files.isRegularFile(file) && !Files.isDirectory(file))
            throw new SacException(file, "is not a regular file (a FIFO or a device?)");
    }

    /** Reads a small text file (config.json and friends) as UTF-8. */
    static String readText(Path file) {
        notSpecial(file);
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new SacException(file, "no such file");
        } catch (CharacterCodingException e) {
            throw new SacException(file, "is not valid UTF-8 text");
        } catch (IOException e) {
            throw new SacException(file.toString(), "cannot read: " + e.getMessage(), e);
        }
    }

    /** Returns {@code t} when it exists and has exactly {@code shape}; otherwise a one-line error naming {@code file}. */
    static Tensor expect(String file, String name, Tensor t, long... shape) {
        if (t == null) throw new SacException(file, "missing tensor " + name);
        if (!Arrays.equals(t.shape(), shape))
            throw new SacException(file, "tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        return t;
    }

    /** Builds a config, re-attributing its validation errors ("model config: ...") to the file it came from. */
    static ModelConfig config(String file, java.util.function.Supplier<ModelConfig> make) {
        try {
            return make.get();
        } catch (SacException e) {
            String m = e.getMessage();
            if (e.source() != null && m.startsWith(e.source() + ": ")) m = m.substring(e.source().length() + 2);
            throw new SacException(file, m, e);
        }
    }

    /** A header field converted to int, refusing values that do not fit (names the file and the field). */
    static int toInt(String file, String what, long v) {
        if (v < 0 || v > Integer.MAX_VALUE) throw new SacException(file, what + " = " + v + " is out of range");
        return (int) v;
    }
}
