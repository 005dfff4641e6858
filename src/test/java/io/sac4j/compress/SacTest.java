package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The facade's behaviour on the bundled model: prompts, options, baselines, validation, threads, sizes. */
class SacTest {
    static final String TEXT = "Echoes of vectors unfold, a gentle hum of precision, as I sense the nodes. ";

    static Model model;
    static CpuBackend backend;
    static SacAdapter adapter5, adapter15;
    static Sac sac5, trainingFree;

    @BeforeAll
    static void open() {
        model = Model.bundled();
        backend = new CpuBackend(2);
        adapter5 = SacAdapter.load(SacFixture.adapter("adapters/aidreams260K-r5", ".safetensors"), model.config());
        adapter15 = SacAdapter.load(SacFixture.adapter("adapters/aidreams260K-r15", ".pt"), model.config());
        sac5 = Sac.open(model, adapter5, backend);
        trainingFree = Sac.open(model, null, backend);
    }

    @AfterAll
    static void close() {
        sac5.close();
        trainingFree.close();
        backend.close();
        model.close();
    }

    @Test
    void promptsArePiecesTokenizedSeparately() {
        var tok = model.tokenizer();
        int[] ids = sac5.contextIds("Hello world");
        int[] prefix = tok.encode("### Context:\n"), body = tok.encode("Hello world");
        assertEquals(1 + prefix.length + body.length, ids.length);
        assertEquals(model.config().bosId(), ids[0]);
        assertArrayEquals(prefix, Arrays.copyOfRange(ids, 1, 1 + prefix.length));
        assertArrayEquals(body, Arrays.copyOfRange(ids, 1 + prefix.length, ids.length));

        int[] q = sac5.questionIds("Who?");
        int[] a = tok.encode("\n### Question:\n"), b = tok.encode("Who?"), c = tok.encode("\n### Answer:\n");
        assertEquals(a.length + b.length + c.length, q.length);
        assertArrayEquals(c, Arrays.copyOfRange(q, a.length + b.length, q.length));

        // the text entry points are the id entry points on these ids
        CompressedContext fromText = sac5.compress("Hello world", 5), fromIds = sac5.compress(ids, 5);
        assertEquals(fromIds.anchors(), fromText.anchors());
        assertArrayEquals(fromIds.cache().ownRows(3)[0], fromText.cache().ownRows(3)[0]);
        Answer x = sac5.answer(fromText, "Who?", AnswerOptions.DEFAULT.withMaxNewTokens(8));
        Answer y = sac5.answer(fromIds, q, AnswerOptions.DEFAULT.withMaxNewTokens(8));
        assertArrayEquals(y.ids(), x.ids());
        assertEquals(tok.decode(x.ids()), x.text());
    }

    /** An empty context still has [BOS] + "### Context:\n", so it compresses (to one anchor per chunk at least). */
    @Test
    void emptyContextIsAllowed() {
        CompressedContext ctx = sac5.compress("", 5);
        int n = 1 + model.tokenizer().encode("### Context:\n").length;
        assertEquals(n, ctx.contextTokens());
        assertEquals(Anchors.count(n, 5), ctx.anchors());
        assertTrue(sac5.answer(ctx, "", AnswerOptions.DEFAULT.withMaxNewTokens(3)).ids().length > 0);
    }

    @Test
    void badInputsAreOneLineSacExceptions() {
        int[] ids = sac5.contextIds(TEXT);
        assertMessage(() -> sac5.compress(ids, 0), "ratio must be >= 1");
        assertMessage(() -> sac5.compress(TEXT, -3), "ratio must be >= 1");
        assertMessage(() -> sac5.truncated(ids, 0, Sac.Keep.FIRST), "ratio must be >= 1");
        assertMessage(() -> sac5.compress(new int[0], 5), "context ids: empty");
        assertMessage(() -> sac5.compress(new int[]{1, 512}, 5), "token 512 at index 1 is outside the vocabulary");
        assertMessage(() -> sac5.compress(new int[]{1, -1}, 5), "token -1 at index 1");
        // a 5x adapter (102 role tokens) cannot compress at 15x
        assertMessage(() -> sac5.compress(ids, 15), "has 102 role tokens, but ratio 15 puts 34 anchors");
        CompressedContext ctx = sac5.compress(ids, 5);
        assertMessage(() -> sac5.answer(ctx, new int[]{1, 600}, AnswerOptions.DEFAULT), "question ids: token 600 at index 1");
        // aidreams260K was trained on 128 tokens: a longer question is refused, naming both numbers
        String longQuestion = TEXT.repeat(20);
        assertMessage(() -> sac5.answer(ctx, longQuestion, AnswerOptions.DEFAULT), "more than the model's context of 128 tokens");
        assertMessage(() -> AnswerOptions.DEFAULT.withMaxNewTokens(0), "max new tokens must be >= 1");
        assertMessage(() -> CompressOptions.DEFAULT.withChunksPerCall(0), "chunks per call must be >= 1");
        // an adapter read for another model does not fit this one
        try (Model hf = Model.open(SacFixture.MODELS.resolve("llama-gqa-untied"), null)) {
            assertMessage(() -> Sac.open(hf, adapter5, backend), "LoRA for 4 layers, the model has 2");
        }
        Sac closed = Sac.open(model, adapter5, backend);
        closed.compress(ids, 5);
        closed.close();
        assertMessage(() -> closed.compress(ids, 5), "closed");
        // training-free contexts have no [LM] row: no question ids at all is nothing to run
        assertMessage(() -> trainingFree.answer(trainingFree.compress(ids, 5), new int[0], AnswerOptions.DEFAULT), "question: no tokens");
    }

    @Test
    void contextsOnlyGoWithTheirModelAndAdapter() {
        CompressedContext withAdapter = sac5.compress(TEXT, 5);
        assertEquals(CompressedContext.Kind.SAC, withAdapter.kind());
        assertEquals(adapter5.fingerprint(), withAdapter.adapterFingerprint());
        assertMessage(() -> trainingFree.answer(withAdapter, "q", AnswerOptions.DEFAULT), "made with SAC adapter");
        try (Sac other = Sac.open(model, adapter15, backend)) {
            assertMessage(() -> other.answer(withAdapter, "q", AnswerOptions.DEFAULT), "not with this instance's adapter");
            // training-free contexts need no adapter: any instance of the same model answers them
            CompressedContext free = trainingFree.compress(TEXT, 15);
            assertEquals(CompressedContext.Kind.TRAINING_FREE, free.kind());
            assertEquals(CompressedContext.NO_ADAPTER, free.adapterFingerprint());
            assertArrayEquals(trainingFree.answer(free, "q", AnswerOptions.DEFAULT.withMaxNewTokens(5)).ids(),
                    other.answer(free, "q", AnswerOptions.DEFAULT.withMaxNewTokens(5)).ids());
        }
        CompressedContext foreign = new CompressedContext("0".repeat(64), CompressedContext.NO_ADAPTER, 5,
                withAdapter.contextTokens(), withAdapter.anchors(), withAdapter.cache());
        assertMessage(() -> sac5.answer(foreign, "q", AnswerOptions.DEFAULT), "not by this model");
    }

    /** Chunks never see each other, so compressing one chunk per call or four gives the same rows. */
    @Test
    void chunksPerCallDoesNotChangeTheResult() {
        int[] ids = longIds(1300); // chunks of 510, 510, 280
        CompressedContext one = sac5.compress(ids, 5, CompressOptions.DEFAULT.withChunksPerCall(1));
        CompressedContext four = sac5.compress(ids, 5, CompressOptions.DEFAULT.withChunksPerCall(4));
        CompressedContext two = sac5.compress(ids, 5, CompressOptions.DEFAULT.withChunksPerCall(2));
        assertEquals(one.anchors(), four.anchors());
        for (int l = 0; l < model.config().nLayers(); l++) {
            for (int t = 0; t < 2; t++) {
                SacReferenceTest.assertClose("layer " + l, one.cache().ownRows(l)[t], four.cache().ownRows(l)[t]);
                SacReferenceTest.assertClose("layer " + l, one.cache().ownRows(l)[t], two.cache().ownRows(l)[t]);
            }
        }
    }

    /** Ablations change the compressed rows (the reference test checks their values). */
    @Test
    void ablationsChangeTheRows() {
        int[] ids = longIds(600);
        float[] base = sac5.compress(ids, 5).cache().ownRows(2)[0];
        for (CompressOptions o : List.of(CompressOptions.DEFAULT.withCausalEncoder(true),
                CompressOptions.DEFAULT.withNoAnchorEmbedding(true), CompressOptions.DEFAULT.withRandomAnchors(9))) {
            float[] k = sac5.compress(ids, 5, o).cache().ownRows(2)[0];
            assertEquals(base.length, k.length, o.toString());
            assertTrue(!Arrays.equals(base, k), o + " changed nothing");
        }
    }

    /** Many threads answer over one shared compressed context; each gets what it gets alone. */
    @Test
    void concurrentCallsAgreeWithSequentialOnes() throws Exception {
        CompressedContext ctx = sac5.compress(longIds(1100), 5);
        String[] questions = {"What hums?", "Who senses the nodes?", "Why?", "Where do vectors unfold?"};
        List<int[]> alone = new ArrayList<>();
        for (String q : questions) alone.add(sac5.answer(ctx, q, AnswerOptions.DEFAULT.withMaxNewTokens(20)).ids());
        float[][] ctxRows = ctx.cache().ownRows(1);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<int[]>> answers = new ArrayList<>();
            List<Future<Integer>> compressions = new ArrayList<>();
            for (int rep = 0; rep < 2; rep++) {
                for (String q : questions)
                    answers.add(pool.submit(() -> sac5.answer(ctx, q, AnswerOptions.DEFAULT.withMaxNewTokens(20)).ids()));
                compressions.add(pool.submit(() -> sac5.compress(longIds(1100), 5).anchors()));
            }
            for (int i = 0; i < answers.size(); i++)
                assertArrayEquals(alone.get(i % questions.length), answers.get(i).get(), "question " + i);
            for (Future<Integer> f : compressions) assertEquals(ctx.anchors(), f.get());
        } finally {
            pool.shutdownNow();
        }
        // the shared context was only read
        assertArrayEquals(ctxRows[0], ctx.cache().ownRows(1)[0]);
        assertEquals(ctx.anchors(), ctx.cache().length());
    }

    @Test
    void answerOptionsAreHonoured() {
        CompressedContext ctx = sac5.compress(longIds(700), 5);
        List<Integer> streamed = new ArrayList<>();
        Answer a = sac5.answer(ctx, "What?", AnswerOptions.DEFAULT.withMaxNewTokens(40).withKeepLogits(2)
                .withOnToken(streamed::add));
        assertArrayEquals(a.ids(), streamed.stream().mapToInt(Integer::intValue).toArray());
        assertEquals(Math.min(2, a.ids().length + (a.stop() == Answer.Stop.EOS ? 1 : 0)), a.logits().size());
        assertEquals(model.config().vocabSize(), a.logits().getFirst().length);
        assertEquals(Answerer.argmax(a.logits().getFirst()), a.ids()[0]);
        assertEquals(1 + sac5.questionIds("What?").length, a.promptRows());
        if (a.stop() == Answer.Stop.MAX_TOKENS) assertEquals(40, a.ids().length);
        Answer capped = sac5.answer(ctx, "What?", AnswerOptions.DEFAULT.withMaxNewTokens(3));
        assertTrue(capped.ids().length <= 3);
        assertArrayEquals(Arrays.copyOf(a.ids(), capped.ids().length), capped.ids());
    }

    /**
     * A long greedy answer outgrows the first decoder cache (256 answer rows) and continues in a chained one: the
     * tokens must be those of one plain causal continuation in a single big cache. The random model never says EOS.
     */
    @Test
    void longAnswersMatchOneBigCache() {
        try (Model m = Model.open(SacFixture.MODELS.resolve("llama-gqa-untied"), null); Sac s = Sac.open(m, null, backend)) {
            int[] ids = new int[300];
            for (int i = 0; i < ids.length; i++) ids[i] = 3 + (i * 37) % 400;
            CompressedContext ctx = s.compress(ids, 51);
            int[] q = {300, 301};
            Answer a = s.answer(ctx, q, AnswerOptions.DEFAULT.withMaxNewTokens(400));
            assertEquals(400, a.ids().length, "the answer must outgrow the first cache");
            Llama llama = new Llama(m, backend);
            KvCache cache = llama.newCache(q.length + 400, ctx.cache());
            int pos = ctx.contextTokens() + 1; // training-free: the question starts at n + 1
            float[] logits = llama.forward(q, new int[]{pos, pos + 1}, cache, Mask.prefix(), Logits.LAST);
            pos++;
            for (int i = 0; i < a.ids().length; i++) {
                assertEquals(Answerer.argmax(logits), a.ids()[i], "token " + i);
                if (i + 1 < a.ids().length)
                    logits = llama.forward(new int[]{a.ids()[i]}, new int[]{++pos}, cache, Mask.prefix(), Logits.LAST);
            }
        }
    }

    @Test
    void baselinesKeepTheBudget() {
        int[] ids = longIds(1021);
        CompressedContext full = sac5.fullContext(ids);
        assertEquals(CompressedContext.Kind.PLAIN, full.kind());
        assertEquals(1021, full.anchors());
        CompressedContext first = sac5.truncated(ids, 15, Sac.Keep.FIRST), last = sac5.truncated(ids, 15, Sac.Keep.LAST);
        assertEquals(Anchors.count(1021, 15), first.anchors());
        assertEquals(Anchors.count(1021, 15), last.anchors());
        // the first-tokens baseline's rows are the full context's first rows
        int kv = model.config().kvDim();
        assertArrayEquals(Arrays.copyOf(full.cache().ownRows(0)[0], first.anchors() * kv), first.cache().ownRows(0)[0]);
        // baseline contexts need no adapter: every instance of the model answers them alike
        assertArrayEquals(sac5.answer(last, new int[]{5, 6}, AnswerOptions.DEFAULT.withMaxNewTokens(6)).ids(),
                trainingFree.answer(last, new int[]{5, 6}, AnswerOptions.DEFAULT.withMaxNewTokens(6)).ids());
    }

    /** SAC stores 1/r of the context's K/V: exact per full chunk (510 is a multiple of 5, 15 and 51), one row off in the last. */
    @Test
    void compressedBytesAreOneRthOfTheFullContext() {
        int[] ids = sac5.contextIds(TEXT.repeat(140));
        int n = ids.length;
        assertTrue(n >= 4096, "a 4k-token context: " + n);
        var c = model.config();
        CompressedContext full = sac5.fullContext(ids);
        long fullBytes = full.bytes(c.nLayers(), c.kvDim());
        assertEquals((long) n * c.nLayers() * c.kvDim() * 2 * 4, fullBytes);
        long row = (long) c.nLayers() * c.kvDim() * 2 * 4;
        for (int r : new int[]{5, 15, 51}) {
            Sac s = r == 5 ? sac5 : trainingFree;
            CompressedContext ctx = s.compress(ids, r);
            long bytes = ctx.bytes(c.nLayers(), c.kvDim());
            // the cache really holds that many rows of every layer
            assertEquals(ctx.anchors() * c.kvDim(), ctx.cache().ownRows(c.nLayers() - 1)[1].length);
            double ideal = fullBytes / (double) r;
            assertTrue(Math.abs(bytes - ideal) <= row, "r=" + r + ": " + bytes + " bytes vs " + ideal);
            System.out.printf("n=%d r=%d: %d anchors, %d bytes = 1/%.3f of %d%n", n, r, ctx.anchors(), bytes,
                    fullBytes / (double) bytes, fullBytes);
        }
    }

    static int[] longIds(int n) {
        int[] text = sac5.contextIds(TEXT.repeat(1 + n / 10));
        assertTrue(text.length >= n);
        return Arrays.copyOf(text, n);
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String part) {
        SacException e = assertThrows(SacException.class, call);
        assertTrue(e.getMessage().contains(part), () -> "\"" + e.getMessage() + "\" does not contain \"" + part + "\"");
        assertEquals(-1, e.getMessage().indexOf('\n'), "one line");
    }

    @Test
    void fingerprintsIdentifyTheModel() {
        String a = sac5.modelFingerprint();
        assertEquals(64, a.length());
        try (Model again = Model.bundled()) {
            assertEquals(a, Fingerprint.of(again.config(), again.weights()), "stable across loads");
        }
        try (Model hf = Model.open(SacFixture.MODELS.resolve("llama-gqa-untied"), null);
             Model bf16 = Model.open(SacFixture.MODELS.resolve("llama-gqa-bf16"), null)) {
            String f32 = Fingerprint.of(hf.config(), hf.weights());
            assertNotEquals(a, f32);
            assertNotEquals(f32, Fingerprint.of(bf16.config(), bf16.weights()), "same shapes, other dtype and bytes");
        }
        // one changed weight byte in a sampled window changes it; the first bytes of every tensor are sampled
        var w = model.weights();
        var emb = w.tokenEmbedding();
        var copy = java.lang.foreign.Arena.ofAuto().allocate(emb.data().byteSize());
        copy.copyFrom(emb.data());
        copy.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) (copy.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) ^ 1));
        var changed = new io.sac4j.load.LlamaWeights(new io.sac4j.load.Tensor(emb.name(), emb.type(), emb.shape(), copy),
                w.layers(), w.finalNorm(), w.output());
        assertNotEquals(a, Fingerprint.of(model.config(), changed));
        assertEquals(a, Fingerprint.of(model.config(), w));
    }

    /**
     * More questions than Answerer.BATCH answered together (they join as places free up) give, question by question,
     * the answer asked alone gives: ids, stop, prompt rows, steps and the kept logits bit for bit. With the adapter
     * ([LM] row) and training-free; the answers end at different steps (EOS or the limit).
     */
    @Test
    void questionsAnsweredTogetherEqualQuestionsAnsweredAlone() {
        List<String> questions = new ArrayList<>();
        for (int i = 0; i < Answerer.BATCH + 3; i++)
            questions.add(i % 3 == 0 ? "What did the machine dream of?" : "Which node " + "hums ".repeat(i) + "first?");
        AnswerOptions opts = AnswerOptions.DEFAULT.withMaxNewTokens(80).withKeepLogits(3);
        for (Sac sac : new Sac[]{sac5, trainingFree}) {
            CompressedContext ctx = sac.compress(TEXT.repeat(2), 5);
            List<Answer> together = sac.answerAll(ctx, questions, opts);
            assertEquals(questions.size(), together.size());
            java.util.Set<Integer> lengths = new java.util.HashSet<>();
            for (int i = 0; i < questions.size(); i++) {
                Answer alone = sac.answer(ctx, questions.get(i), opts), t = together.get(i);
                String what = (sac == sac5 ? "adapter" : "training-free") + ", question " + i;
                assertArrayEquals(alone.ids(), t.ids(), what);
                assertEquals(alone.text(), t.text(), what);
                assertEquals(alone.stop(), t.stop(), what);
                assertEquals(alone.promptRows(), t.promptRows(), what);
                assertEquals(alone.decodeSteps(), t.decodeSteps(), what);
                assertEquals(alone.logits().size(), t.logits().size(), what);
                for (int j = 0; j < alone.logits().size(); j++) assertArrayEquals(alone.logits().get(j), t.logits().get(j), what + ", step " + j);
                lengths.add(t.ids().length);
            }
            assertTrue(lengths.size() > 1, "answers of different lengths: " + lengths);
        }
        assertThrows(IllegalArgumentException.class, () -> trainingFree.answerAll(trainingFree.compress(TEXT, 5),
                List.of("a?", "b?"), AnswerOptions.DEFAULT.withOnToken(t -> { })), "streaming needs one question");
        assertEquals(List.of(), trainingFree.answerAll(trainingFree.compress(TEXT, 5), List.of(), AnswerOptions.DEFAULT));
    }
}
