package io.sac4j.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SafetensorsFileWriter against files written by independent writers (scripts/models/st_io.py and
 * scripts/reference/safetensors_io.py: json.dumps with compact separators, header padded with spaces to 8 bytes):
 * re-encoding a fixture must give the very same bytes.
 */
class SafetensorsFileWriterTest {

    @ParameterizedTest
    @ValueSource(strings = {"/fixtures/gguf/tiny-llama/model.safetensors", "/fixtures/gguf/tiny-qwen2/model.safetensors",
            "/fixtures/models/llama-gqa-bf16/model.safetensors", "/fixtures/models/llama-gqa-f16/model.safetensors",
            "/fixtures/models/qwen2-mha-untied/model.safetensors"})
    void reEncodingAnIndependentlyWrittenFileGivesTheSameBytes(String fixture, @TempDir Path dir) throws Exception {
        Path src = LoadFixtures.resource(fixture), out = dir.resolve("copy.safetensors");
        try (Arena a = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(src, a);
            List<SafetensorsFileWriter.Entry> entries = new ArrayList<>();
            for (String n : f.names()) entries.add(SafetensorsFileWriter.Entry.of(n, f.tensor(n)));
            SafetensorsFileWriter.write(out, entries, f.metadata());
        }
        assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(out), fixture);
        assertEquals(1, Files.list(dir).count(), "no temporary file is left");
    }

    @Test
    void writesWhatTheReaderReadsBack(@TempDir Path dir) {
        Path out = dir.resolve("m.safetensors");
        try (Arena a = Arena.ofShared()) { // SyntheticModel fills rows from several threads
            Tensor w = SyntheticModel.matrix(a, "w", DType.BF16, 3, 5, 7);
            Tensor h = SyntheticModel.matrix(a, "h", DType.F16, 2, 2, 7);
            Tensor g = SyntheticModel.tensor(a, "g", DType.F32, 1, 3, 7, 1f, 0.1f);
            SafetensorsFileWriter.write(out, List.of(SafetensorsFileWriter.Entry.of("w", w),
                    SafetensorsFileWriter.Entry.of("h", h), SafetensorsFileWriter.Entry.of("g", g),
                    new SafetensorsFileWriter.Entry("empty", DType.F32, new long[]{0, 4}, arena -> arena.allocate(0))),
                    Map.of("format", "pt"));
            SafetensorsFile f = SafetensorsFile.open(out, a);
            assertEquals(List.of("w", "h", "g", "empty"), List.copyOf(f.names()));
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals("BF16", f.entry("w").dtype());
            assertArrayEquals(new long[]{3, 5}, f.tensor("w").shape());
            assertArrayEquals(w.data().toArray(ValueLayout.JAVA_BYTE), f.tensor("w").data().toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(h.toFloats(), f.tensor("h").toFloats());
            assertArrayEquals(g.toFloats(), f.tensor("g").toFloats());
            assertEquals(0, f.tensor("empty").data().byteSize());
            long headerLength = LoadFixtures.le(LoadFixtures.bytes(out)).getLong(0);
            assertEquals(0, headerLength % 8, "data starts 8-byte aligned");
        }
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporaryFile(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("m.safetensors");
        Files.writeString(out, "old");
        var bad = new SafetensorsFileWriter.Entry("t", DType.F32, new long[]{2, 2}, arena -> arena.allocate(12));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> SafetensorsFileWriter.write(out, List.of(bad), Map.of()));
        assertTrue(e.getMessage().contains("12 bytes given, 16 expected"), e.getMessage());
        assertEquals("old", Files.readString(out));
        assertEquals(1, Files.list(dir).count());
        Path nowhere = dir.resolve("missing").resolve("m.safetensors");
        LoadFixtures.assertError(nowhere, () -> SafetensorsFileWriter.write(nowhere, List.of(), Map.of()),
                "the directory does not exist");
    }

    @Test
    void refusesWhatSafetensorsCannotHold() {
        assertThrows(IllegalArgumentException.class,
                () -> new SafetensorsFileWriter.Entry("q", DType.Q8_0, new long[]{1, 32}, a -> a.allocate(34)));
        assertThrows(IllegalArgumentException.class,
                () -> new SafetensorsFileWriter.Entry("__metadata__", DType.F32, new long[]{1}, a -> a.allocate(4)));
        var t = new SafetensorsFileWriter.Entry("t", DType.F32, new long[]{1}, a -> a.allocate(4));
        assertThrows(IllegalArgumentException.class, () -> SafetensorsFileWriter.header(List.of(t, t), Map.of()));
    }
}
