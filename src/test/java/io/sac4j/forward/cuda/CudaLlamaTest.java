package io.sac4j.forward.cuda;

import io.sac4j.SacException;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.SacFile;
import io.sac4j.decode.Sampler;
import io.sac4j.forward.Backend;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.DType;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.stream.IntStream;

import static io.sac4j.forward.cuda.GpuSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Whole forward passes on the CUDA backend against the CPU backend: the bundled aidreams260K model (llama2.c,
 * adjacent-pair RoPE) and the random-weight Hugging Face fixtures (GQA, qwen2 biases, bf16/f16 weights), with
 * causal prefill, continuation, SAC-style blocks, a shared prefix, gathered anchors and greedy decoding.
 */
@Tag("gpu")
class CudaLlamaTest {
    private static final Path MODELS = Path.of("src", "main", "resources", "io", "sac4j", "models");
    private static final Path FIXTURES = Path.of("src", "test", "resources", "fixtures", "models");
    private static CudaBackend gpu;
    private static CpuBackend cpu;

    @BeforeAll
    static void open() {
        gpu = GpuSupport.openOrNull(false, true, true);
        cpu = new CpuBackend(Math.max(2, Runtime.getRuntime().availableProcessors()));
    }

    /** Each test is reported skipped, with the reason, where CUDA is unavailable. */
    @BeforeEach
    void needsGpu() {
        assumeTrue(gpu != null, GpuSupport.unavailable);
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        if (cpu != null) cpu.close();
    }

    private static Model aidreams() {
        return Model.open(MODELS.resolve("aidreams260K.bin"), MODELS.resolve("tok512.bin"));
    }

    /** cuBLAS runs 16-bit weights on 16-bit activations; everything else is f32 like the CPU. */
    private static double tolerance(Model m, int rows) {
        DType t = m.weights().layers()[0].wq().type();
        boolean rounded = gpu.name().contains("matmul: cuBLAS") && rows > Kernels.GEMV_ROWS && (t == DType.BF16 || t == DType.F16);
        return rounded ? 1e-4 : 1e-9;
    }

    private static int[] range(int from, int n) {
        return IntStream.range(from, from + n).toArray();
    }

    private static int[] tokens(int n, int vocab, int seed) {
        return new java.util.Random(seed).ints(n, 3, vocab).toArray();
    }

    @Test
    void aidreamsPrefillLogits() {
        try (Model m = aidreams()) {
            Llama g = new Llama(m, gpu), c = new Llama(m, cpu);
            int[] t = tokens(60, m.config().vocabSize(), 1);
            t[0] = 1;
            float[] lg = g.forward(t, range(0, t.length), g.newCache(t.length), Mask.causal(), Logits.ALL);
            float[] lc = c.forward(t, range(0, t.length), c.newCache(t.length), Mask.causal(), Logits.ALL);
            assertClose("aidreams prefill", lg, lc, 1e-9);
        }
    }

    /** Greedy decoding from BOS: the device's argmax of each step's logits picks the CPU's tokens. */
    @Test
    void aidreamsGreedyDecodingMatchesCpu() {
        try (Model m = aidreams()) {
            int steps = 40;
            int[] want = decode(new Llama(m, cpu), steps, null);
            int[] got = decode(new Llama(m, gpu), steps, gpu);
            assertArrayEquals(want, got);
        }
    }

    private static int[] decode(Llama llama, int steps, CudaBackend argmaxOn) {
        KvCache cache = llama.newCache(steps + 1);
        int[] out = new int[steps];
        int token = 1;
        for (int i = 0; i < steps; i++) {
            float[] logits = llama.forward(new int[]{token}, new int[]{i}, cache, Mask.causal(), Logits.LAST);
            if (argmaxOn == null) {
                token = Sampler.argmax(logits);
            } else {
                io.sac4j.forward.Buf b = argmaxOn.alloc(1, logits.length);
                argmaxOn.write(b, logits);
                token = argmaxOn.argmax(b)[0];
            }
            out[i] = token;
        }
        return out;
    }

    /** Prefill, continuation on the same cache, a second cache on the prefill as a shared prefix, and blocks. */
    @ParameterizedTest
    @ValueSource(strings = {"llama-mha-tied", "llama-gqa-untied", "qwen2-gqa-tied", "qwen2-mha-untied", "llama-gqa-bf16", "llama-gqa-f16"})
    void huggingFaceFixturesMatchCpu(String name) {
        try (Model m = Model.open(FIXTURES.resolve(name), null)) {
            int vocab = m.config().vocabSize();
            int[] prompt = tokens(40, vocab, 2), more = tokens(3, vocab, 3), block = tokens(12, vocab, 4);
            Llama g = new Llama(m, gpu), c = new Llama(m, cpu);
            KvCache cg = g.newCache(64), cc = c.newCache(64);
            double tol = tolerance(m, prompt.length);
            assertClose(name + " prefill", g.forward(prompt, range(0, 40), cg, Mask.causal(), Logits.ALL),
                    c.forward(prompt, range(0, 40), cc, Mask.causal(), Logits.ALL), tol);
            // 3 rows alone stay exact, but they attend to the prefill's K/V, which cuBLAS computed in bf16 / f16
            assertClose(name + " continuation", g.forward(more, range(40, 3), cg, Mask.causal(), Logits.ALL),
                    c.forward(more, range(40, 3), cc, Mask.causal(), Logits.ALL), tol);
            // two questions over one shared, read-only prefix
            KvCache pg = g.newCache(40), pc = c.newCache(40);
            g.forward(prompt, range(0, 40), pg, Mask.causal(), Logits.NONE);
            c.forward(prompt, range(0, 40), pc, Mask.causal(), Logits.NONE);
            for (int i = 0; i < 2; i++)
                assertClose(name + " over a prefix " + i, g.forward(more, range(40, 3), g.newCache(3, pg), Mask.prefix(), Logits.ALL),
                        c.forward(more, range(40, 3), c.newCache(3, pc), Mask.prefix(), Logits.ALL), tol);
            assertEquals(40, pg.length());
            // bidirectional blocks of 5 at large, uneven positions
            int[] pos = IntStream.range(0, 12).map(i -> 1000 + 7 * i).toArray();
            assertClose(name + " blocks", g.forward(block, pos, g.newCache(12), Mask.blocks(5), Logits.ALL),
                    c.forward(block, pos, c.newCache(12), Mask.blocks(5), Logits.ALL), tolerance(m, 12));
        }
    }

    /**
     * SAC's shape on aidreams: two chunks encoded with bidirectional blocks, the anchor rows gathered into a
     * compressed cache, then a question answered over it with the PREFIX mask.
     */
    @Test
    void compressedContextPipelineMatchesCpu() {
        try (Model m = aidreams()) {
            int chunk = 51, n = 2 * chunk, r = 5;
            int[] context = tokens(n, m.config().vocabSize(), 5), question = tokens(9, m.config().vocabSize(), 6);
            int[] anchors = IntStream.range(0, n).filter(i -> i % chunk % r == (r - 1) / 2).toArray();
            float[][] answers = new float[2][];
            Backend[] bes = {gpu, cpu};
            for (int i = 0; i < 2; i++) {
                Llama l = new Llama(m, bes[i]);
                KvCache full = l.newCache(n);
                l.forward(context, range(1, n), full, Mask.blocks(chunk), Logits.NONE);
                KvCache compressed = bes[i].gather(full, anchors, m.config());
                answers[i] = l.forward(question, range(n + 1, question.length), l.newCache(question.length, compressed), Mask.prefix(), Logits.ALL);
            }
            assertClose("compressed context", answers[0], answers[1], 1e-9);
        }
    }

    /**
     * Questions decoded together on the GPU (Llama.decodeEach: one row per question, per-row attention through
     * copyRows) give the CPU's logits, and Sac.answerAll the CPU's answers, token for token.
     */
    @Test
    void questionsDecodedTogetherMatchCpu() {
        try (Model m = aidreams()) {
            int n = 60, q = 5, vocab = m.config().vocabSize();
            int[] context = tokens(n, vocab, 8);
            float[][] logits = new float[2][];
            Backend[] bes = {gpu, cpu};
            for (int b = 0; b < 2; b++) {
                Llama l = new Llama(m, bes[b]);
                KvCache prefix = l.newCache(n);
                l.forward(context, range(0, n), prefix, Mask.causal(), Logits.NONE);
                KvCache[] caches = new KvCache[q];
                int[] next = new int[q], pos = new int[q];
                for (int i = 0; i < q; i++) {
                    caches[i] = l.newCache(i + 2, prefix);
                    l.forward(tokens(i + 1, vocab, 20 + i), range(n, i + 1), caches[i], Mask.prefix(), Logits.NONE);
                    next[i] = 3 + i;
                    pos[i] = n + i + 1;
                }
                logits[b] = l.decodeEach(next, pos, caches, Mask.prefix());
            }
            assertClose("decodeEach", logits[0], logits[1], 1e-9);

            // one more than a batch, so the last joins when a place frees up
            java.util.List<String> questions = java.util.List.of("What hums?", "Where do the nodes dream?", "Who?",
                    "What unfolds?", "Why?", "When?", "How?", "Which vectors?", "And then?");
            java.util.List<java.util.List<io.sac4j.compress.Answer>> answers = new java.util.ArrayList<>();
            for (Backend be : bes)
                try (io.sac4j.compress.Sac sac = io.sac4j.compress.Sac.open(m, null, be)) {
                    CompressedContext ctx = sac.compress("Echoes of vectors unfold, a gentle hum of precision. ", 5);
                    answers.add(sac.answerAll(ctx, questions, io.sac4j.compress.AnswerOptions.DEFAULT.withMaxNewTokens(12)));
                }
            for (int i = 0; i < questions.size(); i++)
                assertArrayEquals(answers.get(1).get(i).ids(), answers.get(0).get(i).ids(), "question " + i + " on the GPU");
        }
    }

    /**
     * A .sac file loads straight into device planes (one plane on the heap at a time): the rows are the CPU load's,
     * bit for bit in the f32 cache; a file whose checksum fails once its planes are up is refused in one line.
     */
    @Test
    void sacFileLoadsStraightToTheDevice(@TempDir Path dir) throws Exception {
        try (Model m = aidreams()) {
            ModelConfig c = m.config();
            int anchors = 37, n = anchors * c.kvDim();
            java.util.Random r = new java.util.Random(3);
            float[][] k = new float[c.nLayers()][n], v = new float[c.nLayers()][n];
            for (int l = 0; l < c.nLayers(); l++)
                for (int i = 0; i < n; i++) {
                    k[l][i] = (float) r.nextGaussian();
                    v[l][i] = Float.intBitsToFloat(r.nextInt()); // any bits, NaNs too: a load copies, it does not compute
                }
            Path f = dir.resolve("ctx.sac");
            SacFile.save(f, new CompressedContext("model", CompressedContext.NO_ADAPTER, 5, 180, anchors, cpu.cacheOf(k, v, c)), c);
            KvCache onGpu = SacFile.load(f, gpu, c, "model", CompressedContext.NO_ADAPTER).cache();
            KvCache onCpu = SacFile.load(f, cpu, c, "model", CompressedContext.NO_ADAPTER).cache();
            assertEquals(anchors, onGpu.length());
            for (int l = 0; l < c.nLayers(); l++) {
                float[][] g = onGpu.ownRows(l), h = onCpu.ownRows(l);
                for (int p = 0; p < 2; p++)
                    for (int i = 0; i < n; i++)
                        assertEquals(Float.floatToRawIntBits(h[p][i]), Float.floatToRawIntBits(g[p][i]), "layer " + l + " plane " + p + " row " + i / c.kvDim());
            }
            byte[] bytes = java.nio.file.Files.readAllBytes(f);
            bytes[bytes.length - 100] ^= 1; // in the last plane: every plane is on the device before the checksum fails
            Path bad = java.nio.file.Files.write(dir.resolve("bad.sac"), bytes);
            SacException e = assertThrows(SacException.class, () -> SacFile.load(bad, gpu, c, "model", CompressedContext.NO_ADAPTER));
            assertEquals(bad + ": corrupt: checksum mismatch", e.getMessage());
        }
    }
}
