package io.sac4j.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GgufWriter against files written by an independent writer: the fixtures of scripts/models/make_gguf.py (numpy,
 * the layout of llama.cpp's gguf-py). Re-encoding a fixture's metadata and tensors must give the very same bytes.
 */
class GgufWriterTest {

    /** Every metadata value as make_gguf.py types it: ints u32, floats f32, int arrays i32, strings, bools. */
    private static GgufWriter copyOf(GgufFile g) {
        GgufWriter w = new GgufWriter();
        for (Map.Entry<String, Object> e : g.metadata().entrySet()) {
            String k = e.getKey();
            switch (e.getValue()) {
                case Long l -> w.putU32(k, l);
                case Double d -> w.putF32(k, (float) (double) d);
                case String s -> w.putString(k, s);
                case Boolean b -> w.putBool(k, b);
                case String[] a -> w.putStrings(k, a);
                case long[] a -> {
                    int[] i = new int[a.length];
                    for (int j = 0; j < a.length; j++) i[j] = Math.toIntExact(a[j]);
                    w.putI32s(k, i);
                }
                default -> fail("unexpected metadata type of " + k + ": " + e.getValue().getClass());
            }
        }
        for (String name : g.tensorInfos().keySet()) w.addTensor(name, g.tensor(name));
        return w;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama.f32.gguf", "tiny-llama.f16.gguf", "tiny-llama.bf16.gguf", "tiny-llama.q8_0.gguf",
            "tiny-qwen2.q8_0.gguf", "llama-gqa-untied.q8_0.gguf", "qwen2-gqa-tied.bf16.gguf"})
    void reEncodingAnIndependentlyWrittenFileGivesTheSameBytes(String fixture, @TempDir Path dir) throws Exception {
        Path src = LoadFixtures.gguf(fixture), out = dir.resolve("copy.gguf");
        try (Arena a = Arena.ofConfined()) {
            copyOf(GgufFile.open(src, a)).write(out);
        }
        // tiny-qwen2 uses general.alignment 64: padding must follow it
        assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(out), fixture);
        assertEquals(1, Files.list(dir).count(), "no temporary file is left");
    }

    @Test
    void ropePermuteMatchesTheConverterOnQAndK() {
        // tiny-llama.f32.gguf holds make_gguf.py's numpy permute of the HF q/k rows (4 heads, 2 kv heads)
        try (Arena a = Arena.ofConfined()) {
            SafetensorsFile hf = SafetensorsFile.open(LoadFixtures.resource("/fixtures/gguf/tiny-llama/model.safetensors"), a);
            GgufFile g = GgufFile.open(LoadFixtures.gguf("tiny-llama.f32.gguf"), a);
            for (int l = 0; l < 2; l++) {
                for (String[] pair : new String[][]{{"q_proj", "attn_q", "4"}, {"k_proj", "attn_k", "2"}}) {
                    Tensor t = hf.tensor("model.layers." + l + ".self_attn." + pair[0] + ".weight");
                    Tensor expected = g.tensor("blk." + l + "." + pair[1] + ".weight");
                    MemorySegment got = GgufWriter.ropePermute(t.data(), t.rowBytes(), t.rows(), Integer.parseInt(pair[2]), a);
                    assertArrayEquals(expected.data().toArray(ValueLayout.JAVA_BYTE), got.toArray(ValueLayout.JAVA_BYTE),
                            pair[1] + " of layer " + l);
                }
            }
        }
    }

    @Test
    void writesWhatTheReaderReadsBack(@TempDir Path dir) {
        Path out = dir.resolve("m.gguf");
        try (Arena a = Arena.ofShared()) { // SyntheticModel fills rows from several threads
            Tensor q = SyntheticModel.matrix(a, "q", DType.Q8_0, 3, 64, 1);
            Tensor v = SyntheticModel.tensor(a, "v", DType.F32, 1, 5, 1, 1f, 0.1f);
            new GgufWriter().putString("general.architecture", "test").putU32("n", 7).putI32("i", -3)
                    .putF32("f", 0.25f).putBool("b", true).putStrings("s", new String[]{"a", "", "ü"})
                    .putI32s("ia", new int[]{-1, 2}).putF32s("fa", new float[]{1.5f})
                    .addTensor("q.weight", q).addTensor("v", v).write(out);
            GgufFile g = GgufFile.open(out, a);
            assertEquals(3, g.version());
            assertEquals("test", g.getString("general.architecture", null));
            assertEquals(7L, g.getLong("n", 0));
            assertEquals(-3L, g.getLong("i", 0));
            assertEquals(0.25, g.getDouble("f", 0));
            assertEquals(Boolean.TRUE, g.metadata().get("b"));
            assertArrayEquals(new String[]{"a", "", "ü"}, (String[]) g.metadata().get("s"));
            assertArrayEquals(new long[]{-1, 2}, (long[]) g.metadata().get("ia"));
            assertArrayEquals(new double[]{1.5}, (double[]) g.metadata().get("fa"));
            assertArrayEquals(new long[]{3, 64}, g.tensor("q.weight").shape());
            assertArrayEquals(q.data().toArray(ValueLayout.JAVA_BYTE), g.tensor("q.weight").data().toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(v.toFloats(), g.tensor("v").toFloats());
            assertEquals(0, g.dataOffset() % 32);
        }
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporaryFile(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("m.gguf");
        Files.writeString(out, "old");
        GgufWriter w = new GgufWriter().putString("general.architecture", "test")
                .addTensor("t", DType.F32, new long[]{4}, arena -> {
                    throw new IllegalStateException("disk full, say");
                });
        assertThrows(IllegalStateException.class, () -> w.write(out));
        assertEquals("old", Files.readString(out));
        assertEquals(1, Files.list(dir).count());
        // a maker that returns the wrong number of bytes is caught before anything is renamed
        GgufWriter short_ = new GgufWriter().addTensor("t", DType.F32, new long[]{4}, arena -> arena.allocate(12));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> short_.write(out));
        assertTrue(e.getMessage().contains("12 bytes given, 16 expected"), e.getMessage());
        assertEquals("old", Files.readString(out));
    }

    @Test
    void refusesWhatGgufCannotHold() {
        GgufWriter w = new GgufWriter().putU32("k", 1);
        assertThrows(IllegalArgumentException.class, () -> w.putU32("k", 2), "duplicate key");
        assertThrows(IllegalArgumentException.class, () -> w.putU32("x", -1));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", DType.Q8_0, new long[]{2, 48}, a -> a.allocate(1)));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("5d", DType.F32, new long[]{1, 1, 1, 1, 1}, a -> a.allocate(4)));
        w.addTensor("t", DType.F32, new long[]{1}, a -> a.allocate(4));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", DType.F32, new long[]{1}, a -> a.allocate(4)));
        assertThrows(IllegalArgumentException.class, () -> GgufWriter.ropePermute(MemorySegment.ofArray(new byte[12]), 4, 3, 2,
                Arena.global()), "3 rows do not split into 2 heads");
    }
}
