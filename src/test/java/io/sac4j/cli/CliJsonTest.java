package io.sac4j.cli;

import io.sac4j.compress.Anchors;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Backends;
import io.sac4j.load.Json;
import io.sac4j.load.LlamaWeights;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import io.sac4j.tokenize.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code --json} of generate, compress, demo and synth on the bundled model: stdout is one JSON object and nothing
 * else, and its values agree with what the files written, the tokenizer and the text output say.
 */
class CliJsonTest {
    private static final String CONTEXT = "The night shift at the observatory belonged to a small machine called Lumen. "
            .repeat(12);

    /** stdout of a successful run: exactly one line holding one JSON object (the strict parser refuses anything more). */
    static Map<String, Object> json(CliRunner.Result r) {
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().endsWith("\n"), r.out());
        assertEquals(1, r.out().lines().count(), "one line on stdout: " + r.out());
        return Json.parseObject(r.out().strip(), "stdout");
    }

    private static long num(Map<String, Object> doc, String key) {
        assertTrue(doc.get(key) instanceof Long, key + " is an integer: " + doc.get(key));
        return (Long) doc.get(key);
    }

    private static double real(Map<?, ?> doc, String key) {
        assertTrue(doc.get(key) instanceof Number, key + " is a number: " + doc.get(key));
        double d = ((Number) doc.get(key)).doubleValue();
        assertTrue(Double.isFinite(d) && d >= 0, key + " = " + d);
        return d;
    }

    private static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Long) o).intValue()).toArray();
    }

    @Test
    void compressJsonDescribesTheFileItWrote(@TempDir Path dir) throws Exception {
        Path ctx = Files.writeString(dir.resolve("c.txt"), CONTEXT), sac = dir.resolve("c.sac"), full = dir.resolve("full.sac");
        var r = CliRunner.run("compress", "--device", "cpu", "-r", "5", "-c", ctx.toString(), "-o", sac.toString(), "--json", "-q");
        Map<String, Object> doc = json(r);
        assertEquals("", r.err(), "--quiet: nothing on stderr");
        var f = CliRunner.run("compress", "--device", "cpu", "--baseline", "full", "-c", ctx.toString(), "-o", full.toString(), "--json");
        Map<String, Object> fullDoc = json(f);
        assertTrue(f.err().contains("backend: cpu"), "without --quiet the notes are on stderr: " + f.err());

        try (Model m = Model.bundled(); Backend be = Backends.create("cpu", 1); Sac s = Sac.open(m, null, be)) {
            CompressedContext saved = SacFile.load(sac, be, m.config(), s.modelFingerprint(), null);
            int n = s.contextIds(CONTEXT).length;
            assertEquals(sac.toString(), doc.get("output"));
            assertEquals(n, num(doc, "context_tokens"));
            assertEquals(saved.contextTokens(), num(doc, "context_tokens"));
            assertEquals(saved.anchors(), num(doc, "rows"));
            assertEquals(Anchors.count(n, 5), num(doc, "rows"));
            assertEquals(5, num(doc, "ratio"));
            assertEquals("TRAINING_FREE", doc.get("kind"));
            assertEquals(saved.kind().toString(), doc.get("kind"));
            assertNull(doc.get("baseline"));
            assertEquals(Files.size(sac), num(doc, "file_bytes"));
            assertEquals(s.modelFingerprint(), doc.get("model_fingerprint"));
            assertEquals(CompressedContext.NO_ADAPTER, doc.get("adapter_fingerprint"));
            assertTrue(((String) doc.get("backend")).startsWith("cpu"), (String) doc.get("backend"));
            assertTrue(((String) doc.get("model")).contains("(bundled)"), (String) doc.get("model"));

            // the full-context baseline keeps every row: its kept bytes are what the SAC run calls the full KV
            CompressedContext all = SacFile.load(full, be, m.config(), s.modelFingerprint(), null);
            assertEquals("PLAIN", fullDoc.get("kind"));
            assertEquals("full", fullDoc.get("baseline"));
            assertEquals(n, all.anchors());
            assertEquals(n, num(fullDoc, "rows"));
            assertEquals(num(doc, "kv_bytes_full"), num(fullDoc, "kv_bytes_kept"));
            assertEquals(num(fullDoc, "kv_bytes_full"), num(fullDoc, "kv_bytes_kept"));
            // bytes per row are the same in both: kept / full = rows / tokens
            assertEquals(num(doc, "kv_bytes_kept") * n, num(doc, "kv_bytes_full") * num(doc, "rows"));
        }
        double secs = real(doc, "seconds"), rate = real(doc, "tokens_per_second");
        assertTrue(secs > 0);
        assertEquals(num(doc, "context_tokens") / secs, rate, rate * 1e-9);
    }

    @Test
    void generateJsonHoldsTheTextItsIdsDecodeTo() {
        var r = CliRunner.run("generate", "-p", "Echoes of", "-n", "12", "--json", "--quiet");
        Map<String, Object> doc = json(r);
        assertEquals("", r.err());
        int[] ids = ints(doc.get("ids"));
        assertTrue(ids.length > 0 && ids.length <= 12, doc.toString());
        assertEquals(ids.length, num(doc, "generated_tokens"));
        assertEquals(ids.length == 12 ? "MAX_TOKENS" : "EOS", doc.get("stop"));
        assertEquals("Echoes of", doc.get("prompt"));
        try (Model m = Model.bundled()) {
            Tokenizer tok = m.tokenizer();
            // after a prompt token (not BOS) a piece decodes the same as at the start, so decode() applies
            assertEquals(tok.decode(ids), doc.get("text"));
            assertEquals(tok.encode("Echoes of").length + 1, num(doc, "prompt_tokens"), "prompt ids with BOS");
        }
        real(doc, "prefill_ms");
        real(doc, "decode_ms");
        real(doc, "prefill_tokens_per_second");
        real(doc, "decode_tokens_per_second");
        assertEquals(0.0, real(doc, "temperature"));
        assertEquals(42, num(doc, "seed"));

        // the text output of the same run: the prompt echoed, then the same continuation
        var t = CliRunner.run("generate", "-p", "Echoes of", "-n", "12", "--quiet");
        assertEquals(0, t.exit(), t.err());
        assertEquals("Echoes of" + doc.get("text") + "\n", t.out());
    }

    @Test
    void generateJsonFromBosIsTheKnownText() {
        var r = CliRunner.run("generate", "-n", "30", "--json", "--threads", "2");
        Map<String, Object> doc = json(r);
        // shared/models/README.md: greedy generation from BOS starts with a quote and this phrase
        assertTrue(((String) doc.get("text")).startsWith("\"Echoes of vectors unfold, a gentle hum of precision"), doc.toString());
        assertEquals(1, num(doc, "prompt_tokens"), "BOS alone");
        assertEquals("", doc.get("prompt"));
        // notes and timings stay on stderr
        assertTrue(r.err().matches("(?s).*prefill: 1 tokens, [0-9.]+ tok/s \\| decode: \\d+ tokens, [0-9.]+ tok/s.*"), r.err());
    }

    @Test
    void synthJsonListsTheFilesWithTheirSizes(@TempDir Path dir) throws Exception {
        Path gguf = dir.resolve("t.gguf"), hf = dir.resolve("hf");
        Files.createDirectories(hf);
        Files.writeString(hf.resolve("README.md"), "not written by synth");
        var g = CliRunner.run("synth", "--shape", "tiny", "--dtype", "f16", "--seed", "5", "-o", gguf.toString(), "--json", "-q");
        var h = CliRunner.run("synth", "--shape", "tiny", "--dtype", "bf16", "-o", hf.toString(), "--json", "-q");
        Map<String, Object> gd = json(g), hd = json(h);
        assertEquals("", g.err());
        assertEquals("", h.err());

        assertEquals(gguf.toString(), gd.get("output"));
        assertEquals("gguf", gd.get("format"));
        assertEquals("f16", gd.get("dtype"));
        assertEquals(5, num(gd, "seed"));
        assertEquals(hf.toString(), hd.get("output"));
        assertEquals("safetensors", hd.get("format"));
        assertEquals("bf16", hd.get("dtype"));
        assertEquals(List.of("config.json", "model.safetensors", "tokenizer.json"), ((List<?>) hd.get("files")).stream()
                .map(e -> Path.of((String) ((Map<?, ?>) e).get("path")).getFileName().toString()).toList(),
                "the files synth wrote, not the README that was there");

        for (Map<String, Object> doc : List.of(gd, hd)) {
            long sum = 0;
            for (Object o : (List<?>) doc.get("files")) {
                Map<?, ?> e = (Map<?, ?>) o;
                Path p = Path.of((String) e.get("path"));
                assertTrue(Files.isRegularFile(p), p.toString());
                assertEquals(Files.size(p), (long) (Long) e.get("bytes"), p.toString());
                sum += Files.size(p);
            }
            assertEquals(sum, num(doc, "bytes"));
            assertEquals("tiny", doc.get("shape"));
            real(doc, "seconds");
            try (Model m = Model.open(Path.of((String) doc.get("output")), null)) {
                ModelConfig c = m.config();
                Map<?, ?> cfg = (Map<?, ?>) doc.get("config");
                assertEquals((long) c.dim(), cfg.get("dim"));
                assertEquals((long) c.hiddenDim(), cfg.get("hidden_dim"));
                assertEquals((long) c.nLayers(), cfg.get("layers"));
                assertEquals((long) c.nHeads(), cfg.get("heads"));
                assertEquals((long) c.nKvHeads(), cfg.get("kv_heads"));
                assertEquals((long) c.headDim(), cfg.get("head_dim"));
                assertEquals((long) c.vocabSize(), cfg.get("vocab_size"));
                assertEquals((long) c.bosId(), cfg.get("bos_id"));
                assertEquals((long) c.eosIds()[0], cfg.get("eos_id"));
                LlamaWeights w = m.weights();
                long params = w.tokenEmbedding().elements() + w.finalNorm().elements();
                for (LlamaWeights.Layer l : w.layers()) {
                    params += l.attnNorm().elements() + l.wq().elements() + l.wk().elements() + l.wv().elements()
                            + l.wo().elements() + l.ffnNorm().elements() + l.wGate().elements() + l.wUp().elements()
                            + l.wDown().elements();
                }
                assertEquals(params, num(doc, "parameters"));
            }
        }
    }

    @Test
    void demoJsonHasEveryContextAndAnswer() throws Exception {
        // --ratios: the old spelling of -r/--ratio still works
        var r = CliRunner.run("demo", "--device", "cpu", "--ratios", "5", "-n", "3", "--json", "--quiet");
        Map<String, Object> doc = json(r);
        assertEquals("", r.err());
        String context;
        List<String> questions;
        try (InputStream c = DemoCommand.class.getResourceAsStream("/io/sac4j/demo/context.txt");
             InputStream q = DemoCommand.class.getResourceAsStream("/io/sac4j/demo/questions.txt")) {
            context = new String(c.readAllBytes(), StandardCharsets.UTF_8);
            questions = new String(q.readAllBytes(), StandardCharsets.UTF_8).lines().filter(s -> !s.isBlank()).toList();
        }
        try (Model m = Model.bundled(); Backend be = Backends.create("cpu", 1); Sac s = Sac.open(m, null, be)) {
            int n = s.contextIds(context).length;
            assertEquals(n, num(doc, "context_tokens"));
            List<?> contexts = (List<?>) doc.get("contexts");
            assertEquals(2, contexts.size());
            Map<?, ?> full = (Map<?, ?>) contexts.get(0), sac = (Map<?, ?>) contexts.get(1);
            assertEquals("full", full.get("name"));
            assertEquals("PLAIN", full.get("kind"));
            assertEquals((long) n, full.get("rows"));
            assertEquals("SAC 1/5", sac.get("name"));
            assertEquals("TRAINING_FREE", sac.get("kind"));
            assertEquals((long) Anchors.count(n, 5), sac.get("rows"));
            long rowBytes = (long) m.config().nLayers() * m.config().kvDim() * 2 * Float.BYTES;
            assertEquals(n * rowBytes, (long) (Long) full.get("kv_bytes"));
            assertEquals(Anchors.count(n, 5) * rowBytes, (long) (Long) sac.get("kv_bytes"));

            List<?> qs = (List<?>) doc.get("questions");
            assertEquals(questions.size(), qs.size());
            for (int i = 0; i < qs.size(); i++) {
                Map<?, ?> q = (Map<?, ?>) qs.get(i);
                assertEquals(questions.get(i), q.get("question"));
                List<?> answers = (List<?>) q.get("answers");
                assertEquals(List.of("full", "SAC 1/5"), answers.stream().map(a -> ((Map<?, ?>) a).get("context")).toList());
                for (Object o : answers) {
                    Map<?, ?> a = (Map<?, ?>) o;
                    int[] ids = ints(a.get("ids"));
                    assertTrue(ids.length <= 3);
                    assertEquals(m.tokenizer().decode(ids), a.get("answer"));
                }
            }
        }
        assertTrue(((String) doc.get("note")).contains("cannot answer questions"), "the note moves into the JSON");
    }
}
