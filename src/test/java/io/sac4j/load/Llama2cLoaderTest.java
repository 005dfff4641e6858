package io.sac4j.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static io.sac4j.load.LoadFixtures.assertError;
import static io.sac4j.load.LoadFixtures.bytes;
import static io.sac4j.load.LoadFixtures.floats;
import static io.sac4j.load.LoadFixtures.le;
import static io.sac4j.load.LoadFixtures.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bundled aidreams260K.bin against numpy's reading of it (scripts/models/llama2c_spotcheck.py), and bad files. */
class Llama2cLoaderTest {
    @TempDir
    Path tmp;

    @Test
    @SuppressWarnings("unchecked")
    void bundledModelMatchesNumpy() {
        Map<String, Object> spot = LoadFixtures.json(LoadFixtures.gguf("aidreams260K.spotcheck.json"));
        Map<String, Object> h = (Map<String, Object>) spot.get("header");
        try (Arena arena = Arena.ofConfined()) {
            LoadedWeights w = Llama2cLoader.load(LoadFixtures.bundledBin(), arena);
            ModelConfig c = w.config();
            assertEquals("llama", c.arch());
            assertEquals(((Long) h.get("dim")).intValue(), c.dim());
            assertEquals(((Long) h.get("hidden_dim")).intValue(), c.hiddenDim());
            assertEquals(((Long) h.get("n_layers")).intValue(), c.nLayers());
            assertEquals(((Long) h.get("n_heads")).intValue(), c.nHeads());
            assertEquals(((Long) h.get("n_kv_heads")).intValue(), c.nKvHeads());
            assertEquals(((Long) h.get("vocab_size")).intValue(), c.vocabSize());
            assertEquals(((Long) h.get("seq_len")).intValue(), c.maxSeqLen());
            assertEquals(c.dim() / c.nHeads(), c.headDim());
            assertEquals(ModelConfig.RopeStyle.ADJACENT, c.ropeStyle());
            assertEquals(10000f, c.ropeTheta());
            assertEquals(1e-5f, c.normEps());
            assertEquals(1, c.bosId());
            assertArrayEquals(new int[]{1, 2}, c.eosIds());
            assertFalse(c.qkvBias());
            assertNull(c.ropeScaling());
            assertTrue(c.tiedEmbeddings());
            assertSame(w.weights().tokenEmbedding(), w.weights().output());

            Map<String, Object> ts = (Map<String, Object>) spot.get("tensors");
            LlamaWeights lw = w.weights();
            check(ts, "token_embedding", lw.tokenEmbedding());
            check(ts, "rms_final", lw.finalNorm());
            for (int i = 0; i < c.nLayers(); i++) {
                LlamaWeights.Layer l = lw.layers()[i];
                check(ts, "rms_att[" + i + "]", l.attnNorm());
                check(ts, "wq[" + i + "]", l.wq());
                check(ts, "wk[" + i + "]", l.wk());
                check(ts, "wv[" + i + "]", l.wv());
                check(ts, "wo[" + i + "]", l.wo());
                check(ts, "rms_ffn[" + i + "]", l.ffnNorm());
                check(ts, "w1[" + i + "]", l.wGate());
                check(ts, "w2[" + i + "]", l.wDown());
                check(ts, "w3[" + i + "]", l.wUp());
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static void check(Map<String, Object> ts, String name, Tensor t) {
        Map<String, Object> e = (Map<String, Object>) ts.get(name);
        assertArrayEquals(LoadFixtures.longs(e.get("shape")), t.shape(), name);
        assertEquals(DType.F32, t.type());
        float[] all = t.toFloats();
        float[] first = floats(e.get("first"));
        assertArrayEquals(first, Arrays.copyOf(all, first.length), name);
        assertEquals(((Number) e.get("last")).floatValue(), all[all.length - 1], name);
        int mid = ((Long) e.get("midRow")).intValue();
        if (mid >= 0) {
            float[] row = new float[t.cols()];
            t.readRow(mid, row, 0);
            float[] want = floats(e.get("midRowFirst"));
            assertArrayEquals(want, Arrays.copyOf(row, want.length), name);
        }
        assertEquals(((Number) e.get("sum")).doubleValue(), LoadFixtures.sum(t), 1e-9 * all.length, name);
    }

    @Test
    void separateClassifierIsReadFromTheEnd() {
        byte[] good = bytes(LoadFixtures.bundledBin());
        int vocab = 512, dim = 64;
        // negative vocab_size: llama2.c's flag for a classifier after freq_cis; append one with known values
        byte[] b = Arrays.copyOf(good, good.length + vocab * dim * 4);
        le(b).putInt(20, -vocab);
        var buf = le(b);
        for (int i = 0; i < vocab * dim; i++) buf.putFloat(good.length + 4 * i, i * 0.001f);
        Path p = write(tmp.resolve("wcls.bin"), b);
        try (Arena arena = Arena.ofConfined()) {
            LoadedWeights w = Llama2cLoader.load(p, arena);
            assertFalse(w.config().tiedEmbeddings());
            assertEquals(vocab, w.config().vocabSize());
            Tensor out = w.weights().output();
            assertArrayEquals(new long[]{vocab, dim}, out.shape());
            float[] row = new float[dim];
            out.readRow(7, row, 0);
            for (int j = 0; j < dim; j++) assertEquals((7 * dim + j) * 0.001f, row[j]);
        }
    }

    @Test
    void truncatedFile() {
        byte[] good = bytes(LoadFixtures.bundledBin());
        Path p = write(tmp.resolve("short.bin"), Arrays.copyOf(good, good.length - 100));
        assertError(p, () -> load(p), "truncated: expected " + good.length + " bytes, file has " + (good.length - 100));
    }

    @Test
    void trailingBytes() {
        byte[] good = bytes(LoadFixtures.bundledBin());
        Path p = write(tmp.resolve("long.bin"), Arrays.copyOf(good, good.length + 8));
        assertError(p, () -> load(p), "8 bytes of unexpected data after the weights");
    }

    @Test
    void missingClassifier() {
        byte[] b = bytes(LoadFixtures.bundledBin());
        le(b).putInt(20, -512); // claims a separate classifier that is not there
        Path p = write(tmp.resolve("nowcls.bin"), b);
        assertError(p, () -> load(p), "truncated: expected " + (b.length + 512 * 64 * 4) + " bytes");
    }

    @Test
    void tooShortForTheHeader() {
        Path p = write(tmp.resolve("tiny.bin"), new byte[10]);
        assertError(p, () -> load(p), "truncated", "28-byte");
    }

    @Test
    void absurdHeaderValues() {
        byte[] good = bytes(LoadFixtures.bundledBin());
        int[][] cases = {{0, -64}, {0, 0}, {0, 1 << 30}, {2, 100000}, {4, 3}, {5, 0}, {6, -1}};
        String[] names = {"dim", "dim", "dim", "n_layers", "n_kv_heads", "vocab_size", "seq_len"};
        for (int k = 0; k < cases.length; k++) {
            byte[] b = good.clone();
            le(b).putInt(4 * cases[k][0], cases[k][1]);
            Path p = write(tmp.resolve("bad" + k + ".bin"), b);
            if (names[k].equals("n_kv_heads")) {
                assertError(p, () -> load(p), "not a multiple of n_kv_heads 3");
            } else {
                assertError(p, () -> load(p), "header " + names[k] + " = " + cases[k][1] + " is out of range");
            }
        }
        // a text file is not a checkpoint
        Path txt = LoadFixtures.writeString(tmp.resolve("notes.bin"), "hello, this is not a model at all\n");
        assertError(txt, () -> load(txt), "not a llama2.c checkpoint");
    }

    private static void load(Path p) {
        try (Arena arena = Arena.ofConfined()) {
            Llama2cLoader.load(p, arena);
        }
    }
}
