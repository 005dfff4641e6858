package io.sac4j.forward;

import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.sac4j.forward.ReferenceFixture.FIXTURES;
import static io.sac4j.forward.ReferenceFixture.assertLogits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The forward pass against independent references: scripts/reference/ref_llama.py (HF Llama/Qwen2 semantics in
 * PyTorch) for the random-weight models of scripts/reference/make_models.py, and scripts/reference/ref_llama2c.py
 * (a port of llama2.c's run.c) for the real aidreams260K checkpoint. Logits must agree to 1e-4.
 */
class ForwardReferenceTest {
    private static final int THREADS = 2;
    private static final Path REFERENCE = FIXTURES.resolve("reference");

    /**
     * Prefill (40 rows, causal), continuation over the prefill cache (3 rows), the same 40 tokens at large and
     * unevenly spaced positions, and 12 rows with bidirectional blocks of 5.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-mha-tied", "llama-gqa-untied", "qwen2-gqa-tied", "qwen2-mha-untied",
            "llama-gqa-bf16", "llama-gqa-f16"})
    void huggingFaceModelMatchesReference(String name) {
        checkRuns(FIXTURES.resolve("models").resolve(name), REFERENCE.resolve(name + ".json"));
    }

    /**
     * The GGUF conversions (scripts/models/make_gguf.py) of two models: llama (q/k rows permuted, adjacent-pair RoPE,
     * llama3 scaling as rope_freqs) and qwen2 (biases, tied). F32 files hold the HF weights, so they share the HF
     * reference; F16/BF16/Q8_0 are compared with reference logits of the identically rounded/quantized weights
     * (scripts/reference/ref_gguf.py).
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa-untied.f32", "llama-gqa-untied.f16", "llama-gqa-untied.bf16", "llama-gqa-untied.q8_0",
            "qwen2-gqa-tied.f32", "qwen2-gqa-tied.f16", "qwen2-gqa-tied.bf16", "qwen2-gqa-tied.q8_0"})
    void ggufModelMatchesReference(String name) {
        String ref = name.endsWith(".f32") ? name.substring(0, name.length() - 4) : name;
        checkRuns(FIXTURES.resolve("gguf").resolve(name + ".gguf"), REFERENCE.resolve(ref + ".json"));
    }

    /** Runs every call of a reference fixture on {@code model} and compares the logits of the stored rows. */
    static void checkRuns(Path model, Path reference) {
        List<ReferenceFixture.Run> runs = ReferenceFixture.runs(reference);
        try (Model m = Model.open(model, null); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            int vocab = m.config().vocabSize();
            Map<String, KvCache> caches = new HashMap<>();
            for (ReferenceFixture.Run r : runs) {
                KvCache cache = r.cache().equals("new") ? llama.newCache(64) : caches.get(r.cache());
                assertNotNull(cache, reference + ": run " + r.name() + " continues unknown run " + r.cache());
                float[] got = llama.forward(r.tokens(), r.positions(), cache, r.mask(), Logits.ALL);
                assertLogits(model.getFileName() + " " + r.name(), got, vocab, r.tokens(), r.positions(), r.rows(), r.logits());
                caches.put(r.name(), cache);
            }
        }
    }

    /**
     * The continuation run again, but over a read-only prefix cache with {@link Mask#prefix()}: two caches sharing
     * one prefix must each give the reference logits, and the prefix must stay as it was.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama-mha-tied", "llama-gqa-untied", "qwen2-gqa-tied", "qwen2-mha-untied"})
    void prefixMaskOverSharedPrefixMatchesContinuation(String name) {
        List<ReferenceFixture.Run> runs = ReferenceFixture.runs(REFERENCE.resolve(name + ".json"));
        ReferenceFixture.Run prefill = ReferenceFixture.run(runs, "prefill"), cont = ReferenceFixture.run(runs, "continue");
        try (Model m = Model.open(FIXTURES.resolve("models").resolve(name), null); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            KvCache prefix = llama.newCache(prefill.tokens().length);
            assertNull(llama.forward(prefill.tokens(), prefill.positions(), prefix, Mask.causal(), Logits.NONE));
            for (int i = 0; i < 2; i++) {
                KvCache cache = llama.newCache(cont.tokens().length, prefix);
                assertEquals(prefill.tokens().length, cache.prefixLength());
                float[] got = llama.forward(cont.tokens(), cont.positions(), cache, Mask.prefix(), Logits.ALL);
                assertLogits(name + " prefix-cache " + i, got, m.config().vocabSize(), cont.tokens(), cont.positions(),
                        cont.rows(), cont.logits());
                assertEquals(prefill.tokens().length + cont.tokens().length, cache.length());
            }
            assertEquals(prefill.tokens().length, prefix.length(), "the shared prefix must not grow");
        }
    }

    /**
     * A prefix cache with spare capacity whose rows past its length hold stale keys (written, then truncated away):
     * a cache on top of it must see only the prefix's held rows and its own.
     */
    @Test
    void prefixWithStaleSpareRowsIsReadOnlyUpToItsLength() {
        List<ReferenceFixture.Run> runs = ReferenceFixture.runs(REFERENCE.resolve("llama-gqa-untied.json"));
        ReferenceFixture.Run prefill = ReferenceFixture.run(runs, "prefill"), cont = ReferenceFixture.run(runs, "continue");
        try (Model m = Model.open(FIXTURES.resolve("models").resolve("llama-gqa-untied"), null); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            int n = prefill.tokens().length;
            KvCache prefix = llama.newCache(64);
            llama.forward(prefill.tokens(), prefill.positions(), prefix, Mask.causal(), Logits.NONE);
            int[] other = Arrays.stream(cont.tokens()).map(t -> (t + 100) % m.config().vocabSize()).toArray();
            llama.forward(other, cont.positions(), prefix, Mask.causal(), Logits.NONE);
            prefix.truncate(n);
            KvCache cache = llama.newCache(cont.tokens().length, prefix);
            float[] got = llama.forward(cont.tokens(), cont.positions(), cache, Mask.prefix(), Logits.ALL);
            assertLogits("llama-gqa-untied over a prefix with stale spare rows", got, m.config().vocabSize(),
                    cont.tokens(), cont.positions(), cont.rows(), cont.logits());
        }
    }

    /** Truncating the cache back to the prefill forgets the continuation: running it again gives the same logits. */
    @Test
    void truncatedCacheRerunsContinuation() {
        List<ReferenceFixture.Run> runs = ReferenceFixture.runs(REFERENCE.resolve("llama-gqa-untied.json"));
        ReferenceFixture.Run prefill = ReferenceFixture.run(runs, "prefill"), cont = ReferenceFixture.run(runs, "continue");
        try (Model m = Model.open(FIXTURES.resolve("models").resolve("llama-gqa-untied"), null); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            int n = prefill.tokens().length;
            KvCache cache = llama.newCache(n + cont.tokens().length);
            llama.forward(prefill.tokens(), prefill.positions(), cache, Mask.causal(), Logits.NONE);
            // other tokens first: rows left over from them would change the logits below
            int[] other = Arrays.stream(cont.tokens()).map(t -> (t + 100) % m.config().vocabSize()).toArray();
            llama.forward(other, cont.positions(), cache, Mask.causal(), Logits.NONE);
            cache.truncate(n);
            assertEquals(n, cache.length());
            float[] got = llama.forward(cont.tokens(), cont.positions(), cache, Mask.causal(), Logits.ALL);
            assertLogits("llama-gqa-untied after truncate", got, m.config().vocabSize(), cont.tokens(), cont.positions(),
                    cont.rows(), cont.logits());
        }
    }

    /** Logits.LAST is the last row of Logits.ALL. */
    @Test
    void lastRowLogitsEqualLastRowOfAll() {
        ReferenceFixture.Run prefill = ReferenceFixture.run(
                ReferenceFixture.runs(REFERENCE.resolve("qwen2-gqa-tied.json")), "prefill");
        try (Model m = Model.open(FIXTURES.resolve("models").resolve("qwen2-gqa-tied"), null); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            int vocab = m.config().vocabSize(), n = prefill.tokens().length;
            float[] all = llama.forward(prefill.tokens(), prefill.positions(), llama.newCache(n), Mask.causal(), Logits.ALL);
            float[] last = llama.forward(prefill.tokens(), prefill.positions(), llama.newCache(n), Mask.causal(), Logits.LAST);
            assertArrayEquals(Arrays.copyOfRange(all, (n - 1) * vocab, n * vocab), last);
        }
    }

    // ---- aidreams260K (llama2.c format, adjacent-pair RoPE) against the run.c port ----

    private static Model aidreams() {
        Path dir = Path.of("src", "main", "resources", "io", "sac4j", "models");
        return Model.open(dir.resolve("aidreams260K.bin"), dir.resolve("tok512.bin"));
    }

    /** Logits of every row of one prompt, in a single batched call. */
    @Test
    @SuppressWarnings("unchecked")
    void aidreamsLogitsMatchRunC() {
        Map<String, Object> ref = (Map<String, Object>) ReferenceFixture.read(REFERENCE.resolve("aidreams.json")).get("logits");
        int[] tokens = ReferenceFixture.ints(ref.get("tokens")), positions = ReferenceFixture.ints(ref.get("positions"));
        float[][] expected = ReferenceFixture.floats2(ref.get("logits"));
        int[] rows = new int[tokens.length];
        for (int i = 0; i < rows.length; i++) rows[i] = i;
        try (Model m = aidreams(); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            float[] got = llama.forward(tokens, positions, llama.newCache(tokens.length), Mask.causal(), Logits.ALL);
            assertLogits("aidreams " + ref.get("prompt"), got, m.config().vocabSize(), tokens, positions, rows, expected);
        }
    }

    /**
     * Greedy generation as run.c does it: the prompt (BOS + encoded text) is forced, then argmax for `steps`
     * positions in all, stopping early at BOS. Here the prompt runs as one batched call and each generated token as
     * a one-row call over the cache.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aidreamsGreedyIdsMatchRunC() {
        Map<String, Object> ref = ReferenceFixture.read(REFERENCE.resolve("aidreams.json"));
        int steps = ((Number) ref.get("steps")).intValue();
        List<String> failures = new ArrayList<>();
        try (Model m = aidreams(); CpuBackend be = new CpuBackend(THREADS)) {
            Llama llama = new Llama(m, be);
            for (Object o : (List<Object>) ref.get("greedy")) {
                Map<String, Object> g = (Map<String, Object>) o;
                int[] prompt = ReferenceFixture.ints(g.get("prompt_ids")), expected = ReferenceFixture.ints(g.get("ids"));
                int[] got = greedy(llama, prompt, steps);
                if (!Arrays.equals(expected, got))
                    failures.add(String.format("prompt %s: expected %s%n  got %s", quoted(g.get("prompt")),
                            Arrays.toString(expected), Arrays.toString(got)));
            }
        }
        assertEquals(List.of(), failures, "greedy ids differ from run.c's:\n" + String.join("\n", failures));
    }

    private static String quoted(Object s) {
        return "\"" + s + "\"";
    }

    /** Every token after BOS: the forced prompt tokens, then the argmax ones (run.c's generate with temperature 0). */
    static int[] greedy(Llama llama, int[] prompt, int steps) {
        KvCache cache = llama.newCache(steps);
        int[] positions = new int[prompt.length];
        for (int i = 0; i < positions.length; i++) positions[i] = i;
        float[] logits = llama.forward(prompt, positions, cache, Mask.causal(), Logits.LAST);
        List<Integer> ids = new ArrayList<>();
        for (int i = 1; i < prompt.length; i++) ids.add(prompt[i]);
        int pos = prompt.length;
        while (true) {
            int next = argmax(logits);
            if (next == 1) break; // BOS delimits sequences in run.c
            ids.add(next);
            if (pos >= steps) break;
            logits = llama.forward(new int[]{next}, new int[]{pos}, cache, Mask.causal(), Logits.LAST);
            pos++;
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** First index of the largest value, as run.c's sample_argmax. */
    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
