package io.sac4j.load;

import io.sac4j.SacException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Paths of the loader fixtures (written by scripts/models/make_fixtures.sh) and helpers shared by the tests. */
final class LoadFixtures {
    private LoadFixtures() {
    }

    static Path resource(String name) {
        try {
            var url = LoadFixtures.class.getResource(name);
            if (url == null) throw new IllegalStateException("missing test resource " + name);
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path gguf(String name) {
        return resource("/fixtures/gguf/" + name);
    }

    static Path bundledBin() {
        return resource("/io/sac4j/models/aidreams260K.bin");
    }

    static Map<String, Object> json(Path p) {
        try {
            return Json.parseObject(Files.readString(p), p.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] bytes(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path write(Path p, byte[] b) {
        try {
            Files.write(p, b);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String readString(Path p) {
        return new String(bytes(p), StandardCharsets.UTF_8);
    }

    static void delete(Path p) {
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path writeString(Path p, String s) {
        return write(p, s.getBytes(StandardCharsets.UTF_8));
    }

    /** Copies every regular file of {@code from} into a new directory {@code to}. */
    static Path copyDir(Path from, Path to) {
        try {
            Files.createDirectories(to);
            try (var s = Files.list(from)) {
                for (Path f : s.toList()) if (Files.isRegularFile(f)) Files.copy(f, to.resolve(f.getFileName()));
            }
            return to;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static float[] floats(Object jsonList) {
        List<?> l = (List<?>) jsonList;
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) out[i] = ((Number) l.get(i)).floatValue();
        return out;
    }

    static long[] longs(Object jsonList) {
        List<?> l = (List<?>) jsonList;
        long[] out = new long[l.size()];
        for (int i = 0; i < out.length; i++) out[i] = ((Number) l.get(i)).longValue();
        return out;
    }

    static double sum(Tensor t) {
        double s = 0;
        for (float f : t.toFloats()) s += f;
        return s;
    }

    /** Asserts a one-line SacException whose message starts with "{@code file}: " and contains every fragment. */
    static SacException assertError(Path file, org.junit.jupiter.api.function.Executable run, String... fragments) {
        SacException e = assertThrows(SacException.class, run);
        String m = e.getMessage();
        assertTrue(m.startsWith(file + ": "), () -> "message should start with the file name: " + m);
        assertFalse(m.contains("\n"), "one line");
        for (String f : fragments) assertTrue(m.contains(f), () -> "message should contain \"" + f + "\": " + m);
        return e;
    }

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
