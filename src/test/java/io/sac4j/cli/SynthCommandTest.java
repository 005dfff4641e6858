package io.sac4j.cli;

import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.DType;
import io.sac4j.load.GgufWriter;
import io.sac4j.load.Json;
import io.sac4j.load.LlamaWeights;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.SyntheticModel;
import io.sac4j.load.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** sac synth: the same random model as SafetensorsFileWriter / GgufWriter files, loaded back by the loaders. */
class SynthCommandTest {
    private static final String TEXT = "the theory in the garden\n  123 ünïcode, then THE end.";

    private static byte[] bytes(Tensor t) {
        return bytes(t.data());
    }

    private static byte[] bytes(java.lang.foreign.MemorySegment m) {
        return m.toArray(ValueLayout.JAVA_BYTE);
    }

    private static float[] logits(Model m, int[] tokens) {
        try (CpuBackend be = new CpuBackend(2)) {
            Llama llama = new Llama(m, be);
            KvCache cache = llama.newCache(tokens.length);
            int[] pos = new int[tokens.length];
            for (int i = 0; i < pos.length; i++) pos[i] = i;
            return llama.forward(tokens, pos, cache, Mask.causal(), Logits.ALL);
        }
    }

    @Test
    void safetensorsAndGgufHoldTheSameModel(@TempDir Path dir) throws Exception {
        Path hf = dir.resolve("tiny"), gguf = dir.resolve("tiny.gguf");
        var a = CliRunner.run("synth", "--shape", "tiny", "--seed", "3", "-o", hf.toString(), "--quiet");
        assertEquals(0, a.exit(), a.err());
        assertTrue(a.out().startsWith(hf + ": tiny-shaped random weights (f32, seed 3)"), a.out());
        var b = CliRunner.run("synth", "--shape", "tiny", "--seed", "3", "-o", gguf.toString(), "--quiet");
        assertEquals(0, b.exit(), b.err());
        assertTrue(Files.isRegularFile(hf.resolve("config.json")) && Files.isRegularFile(hf.resolve("tokenizer.json")));
        try (var files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary files are left");
        }

        ModelConfig expected = SynthCommand.SHAPES.get("tiny");
        try (Model st = Model.open(hf, null); Model gg = Model.open(gguf, null);
             Arena arena = Arena.ofShared(); SyntheticModel ref = SyntheticModel.create(expected, DType.F32, 3)) {
            for (Model m : new Model[]{st, gg}) {
                ModelConfig c = m.config();
                assertEquals(expected.dim(), c.dim());
                assertEquals(expected.hiddenDim(), c.hiddenDim());
                assertEquals(expected.nLayers(), c.nLayers());
                assertEquals(expected.nHeads(), c.nHeads());
                assertEquals(expected.nKvHeads(), c.nKvHeads());
                assertEquals(expected.vocabSize(), c.vocabSize());
                assertEquals(expected.normEps(), c.normEps());
                assertEquals(expected.ropeTheta(), c.ropeTheta());
                assertTrue(c.tiedEmbeddings());
                assertEquals(289, c.bosId()); // right after the 256 bytes and 33 merges
                assertArrayEquals(new int[]{290}, c.eosIds());
            }
            assertEquals(ModelConfig.RopeStyle.HALVES, st.config().ropeStyle());
            assertEquals(ModelConfig.RopeStyle.ADJACENT, gg.config().ropeStyle());

            // the weights are SyntheticModel's; GGUF's q/k rows are permuted as llama.cpp's converter does
            LlamaWeights r = ref.weights(), s = st.weights(), g = gg.weights();
            assertArrayEquals(bytes(r.tokenEmbedding()), bytes(s.tokenEmbedding()));
            assertArrayEquals(bytes(r.tokenEmbedding()), bytes(g.tokenEmbedding()));
            assertArrayEquals(bytes(r.finalNorm()), bytes(g.finalNorm()));
            for (int l = 0; l < expected.nLayers(); l++) {
                LlamaWeights.Layer rl = r.layers()[l], sl = s.layers()[l], gl = g.layers()[l];
                for (Tensor[] t : new Tensor[][]{{rl.wq(), sl.wq()}, {rl.wk(), sl.wk()}, {rl.wv(), sl.wv()}, {rl.wo(), sl.wo()},
                        {rl.wGate(), sl.wGate()}, {rl.wUp(), sl.wUp()}, {rl.wDown(), sl.wDown()}, {rl.attnNorm(), sl.attnNorm()},
                        {rl.ffnNorm(), sl.ffnNorm()}, {rl.wv(), gl.wv()}, {rl.wDown(), gl.wDown()}}) {
                    assertArrayEquals(bytes(t[0]), bytes(t[1]), t[0].name());
                }
                assertArrayEquals(bytes(GgufWriter.ropePermute(rl.wq().data(), rl.wq().rowBytes(), rl.wq().rows(),
                        expected.nHeads(), arena)), bytes(gl.wq()));
                assertArrayEquals(bytes(GgufWriter.ropePermute(rl.wk().data(), rl.wk().rowBytes(), rl.wk().rows(),
                        expected.nKvHeads(), arena)), bytes(gl.wk()));
            }

            // one model: the same tokens and the same logits from either file
            int[] ids = st.tokenizer().encode(TEXT);
            assertArrayEquals(ids, gg.tokenizer().encode(TEXT));
            assertEquals(TEXT, st.tokenizer().decode(ids));
            assertTrue(ids.length < TEXT.length(), "the merges apply: " + ids.length);
            int[] tokens = new int[ids.length + 1];
            tokens[0] = expected.bosId();
            System.arraycopy(ids, 0, tokens, 1, ids.length);
            float[] x = logits(st, tokens), y = logits(gg, tokens);
            assertEquals(tokens.length * expected.vocabSize(), x.length);
            double maxDiff = 0, maxAbs = 0;
            for (int i = 0; i < x.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
                maxAbs = Math.max(maxAbs, Math.abs(x[i]));
            }
            assertTrue(maxDiff < 1e-4, "max |diff| " + maxDiff);
            assertTrue(maxAbs > 1e-2, "the logits are not trivially zero: " + maxAbs);
        }
    }

    @Test
    void theOneBillionShapesTokenizerLoadsFromBothFormats(@TempDir Path dir) {
        // the 1B files are too big for a test; their tokenizer metadata and tokenizer.json are not
        ModelConfig c = SynthCommand.SHAPES.get("llama-3.2-1b");
        Path meta = dir.resolve("meta.gguf");
        SynthCommand.ggufMetadata(c, DType.BF16, "llama-3.2-1b").write(meta);
        try (Arena a = Arena.ofConfined()) {
            io.sac4j.load.GgufFile g = io.sac4j.load.GgufFile.open(meta, a);
            assertEquals(128256, ((String[]) g.metadata().get("tokenizer.ggml.tokens")).length);
            assertEquals(32L, g.getLong("general.file_type", -1));
            var fromGguf = io.sac4j.tokenize.GgufTokenizer.fromMetadata(meta.toString(), g.metadata());
            var fromJson = io.sac4j.tokenize.BpeTokenizer.fromJson(SynthCommand.tokenizerJson(c), "tokenizer.json");
            int[] ids = fromJson.encode(TEXT + "<|end_of_text|>");
            assertArrayEquals(ids, fromGguf.encode(TEXT + "<|end_of_text|>"));
            assertEquals(c.eosIds()[0], ids[ids.length - 1], "the special token is matched as one token");
            assertEquals(c.vocabSize(), fromJson.vocabSize());
            assertEquals(c.vocabSize(), fromGguf.vocabSize());
            assertEquals("[PAD128000]", fromJson.decode(new int[]{128000}));
            assertEquals("[PAD128000]", fromGguf.decode(new int[]{128000}));
        }
    }

    @Test
    void q8AndBf16(@TempDir Path dir) throws Exception {
        // q8_0 goes to GGUF even without --format; into an existing directory it gets a file name of its own
        var q = CliRunner.run("synth", "--shape", "tiny", "--dtype", "q8_0", "-o", dir.toString(), "--quiet");
        assertEquals(0, q.exit(), q.err());
        Path gguf = dir.resolve("tiny.q8_0.gguf");
        var h = CliRunner.run("synth", "--shape", "tiny", "--dtype", "bf16", "-o", dir.resolve("bf").toString(), "--quiet");
        assertEquals(0, h.exit(), h.err());
        ModelConfig c = SynthCommand.SHAPES.get("tiny");
        try (Model g = Model.open(gguf, null); Model b = Model.open(dir.resolve("bf"), null);
             SyntheticModel q8 = SyntheticModel.create(c, DType.Q8_0, 0);
             SyntheticModel bf = SyntheticModel.create(c, DType.BF16, 0)) {
            assertEquals(DType.Q8_0, g.weights().layers()[0].wGate().type());
            assertEquals(DType.F32, g.weights().layers()[0].attnNorm().type());
            assertArrayEquals(bytes(q8.weights().tokenEmbedding()), bytes(g.weights().tokenEmbedding()));
            assertArrayEquals(bytes(q8.weights().layers()[1].wDown()), bytes(g.weights().layers()[1].wDown()));
            assertEquals(DType.BF16, b.weights().layers()[0].wUp().type());
            assertArrayEquals(bytes(bf.weights().layers()[1].wUp()), bytes(b.weights().layers()[1].wUp()));
            Map<String, Object> cfg = Json.parseObject(Files.readString(dir.resolve("bf/config.json")), "config");
            assertEquals("bfloat16", cfg.get("torch_dtype"));
        }
    }

    @Test
    void badArgumentsAreUsageErrors(@TempDir Path dir) throws Exception {
        var r = CliRunner.run("synth", "--shape", "huge", "-o", dir.resolve("x").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--shape must be one of tiny, small, llama-3.2-1b"), r.err());
        r = CliRunner.run("synth", "--dtype", "q4", "-o", dir.resolve("x").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--dtype must be"), r.err());
        r = CliRunner.run("synth", "--dtype", "q8_0", "--format", "safetensors", "-o", dir.resolve("x").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("safetensors has no Q8_0"), r.err());
        r = CliRunner.run("synth");
        assertEquals(2, r.exit());
        Path nowhere = dir.resolve("no/such/dir/m.gguf");
        r = CliRunner.run("synth", "-o", nowhere.toString());
        assertEquals(2, r.exit());
        assertEquals("sac: error: " + nowhere + ": the directory does not exist\n", r.err());
        Path file = Files.writeString(dir.resolve("file"), "x");
        r = CliRunner.run("synth", "--format", "safetensors", "-o", file.toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains(file + ": exists and is not a directory"), r.err());
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "nothing was written");
        }
    }
}
