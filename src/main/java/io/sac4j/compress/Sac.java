package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.Backend;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import io.sac4j.tokenize.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Semantic-Anchor Compression of one model (+ one adapter): compress a context once, answer many questions over it.
 *
 * <pre>{@code
 * try (Sac sac = Sac.open(model, SacAdapter.load(file, model.config()), backend)) {
 *     CompressedContext ctx = sac.compress(contextText, 15);
 *     Answer a = sac.answer(ctx, "Who wrote it?", AnswerOptions.DEFAULT);
 * }
 * }</pre>
 *
 * Prompt pieces are tokenized separately, without special tokens (SAC.md, "Prompt"): the context ids are [BOS] +
 * tok("### Context:\n") + tok(context) (no BOS when the model defines none), so an empty context is allowed and
 * still gives n >= 2 tokens; the question ids are tok("\n### Question:\n") + tok(question) + tok("\n### Answer:\n").
 * Without an adapter ({@code open(model, null, backend)}) this is the training-free mode: base weights in the
 * encoder, no role tokens, no [LM]. Baselines use the same API: {@link #fullContext} and {@link #truncated} return
 * contexts that {@link #answer} takes like compressed ones.
 *
 * <p>Thread-safe: compress and answer may run on many threads at once (each call makes its own caches; a
 * compressed context is only read). The caller keeps ownership of the model and the backend; {@link #close()}
 * frees only the merged encoder weights. Each call holds a {@link Model#use()}: closing the model while calls run
 * lets them finish, and calls made after it fail with the SacException "&lt;model&gt;: the model is closed".
 */
public final class Sac implements AutoCloseable {
    public static final String CONTEXT_PREFIX = "### Context:\n";
    public static final String QUESTION_PREFIX = "\n### Question:\n";
    public static final String ANSWER_PREFIX = "\n### Answer:\n";
    /** Rows per decoder call when a baseline runs its context (keeps activations small on long contexts). */
    private static final int PREFILL_ROWS = 512;

    /** Which tokens the truncation baseline keeps. */
    public enum Keep {
        /** The first B context ids. */
        FIRST,
        /** The first id ([BOS]) and the last B-1 ids. */
        LAST
    }

    private final Model model;
    private final ModelConfig config;
    private final Llama decoder;
    private final Compressor compressor;
    private final Answerer answerer;
    private final String modelFingerprint;

    private Sac(Model model, SacAdapter adapter, Backend backend) {
        this.model = model;
        this.config = model.config();
        try (Model.Use u = model.use()) {
            this.modelFingerprint = Fingerprint.of(model.config(), model.weights());
        }
        this.decoder = new Llama(model, backend);
        this.compressor = new Compressor(config, model.weights(), adapter, backend, modelFingerprint);
        float[] lm = adapter == null ? null : Arrays.copyOfRange(adapter.specialTokens(), config.dim(), 2 * config.dim());
        this.answerer = new Answerer(decoder, lm, model.tokenizer());
    }

    /** SAC with {@code adapter}, or training-free SAC when it is null. */
    public static Sac open(Model model, SacAdapter adapter, Backend backend) {
        if (model == null || backend == null) throw new IllegalArgumentException("model and backend are required");
        return new Sac(model, adapter, backend);
    }

    public boolean trainingFree() {
        return CompressedContext.NO_ADAPTER.equals(compressor.adapterFingerprint());
    }

    public String modelFingerprint() {
        return modelFingerprint;
    }

    public String adapterFingerprint() {
        return compressor.adapterFingerprint();
    }

    // ---------------------------------------------------------------- prompts

    /** [BOS] + tok("### Context:\n") + tok(context): the encoder input. */
    public int[] contextIds(String context) {
        Tokenizer t = tokenizer();
        int[] prefix = t.encode(CONTEXT_PREFIX), body = t.encode(context);
        int bos = config.bosId() >= 0 ? 1 : 0;
        int[] out = new int[bos + prefix.length + body.length];
        if (bos == 1) out[0] = config.bosId();
        System.arraycopy(prefix, 0, out, bos, prefix.length);
        System.arraycopy(body, 0, out, bos + prefix.length, body.length);
        return out;
    }

    /** tok("\n### Question:\n") + tok(question) + tok("\n### Answer:\n"): the decoder input after [LM]. */
    public int[] questionIds(String question) {
        Tokenizer t = tokenizer();
        int[] a = t.encode(QUESTION_PREFIX), b = t.encode(question), c = t.encode(ANSWER_PREFIX);
        int[] out = Arrays.copyOf(a, a.length + b.length + c.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        System.arraycopy(c, 0, out, a.length + b.length, c.length);
        return out;
    }

    private Tokenizer tokenizer() {
        if (model.tokenizer() == null)
            throw new SacException(model.source(), "the model has no tokenizer; pass token ids instead of text");
        return model.tokenizer();
    }

    // ---------------------------------------------------------------- compression

    public CompressedContext compress(String context, int ratio) {
        return compress(contextIds(context), ratio, CompressOptions.DEFAULT);
    }

    public CompressedContext compress(String context, int ratio, CompressOptions options) {
        return compress(contextIds(context), ratio, options);
    }

    /** Compresses context ids: the whole encoder input ([BOS] + prefix + context), n = contextIds.length. */
    public CompressedContext compress(int[] contextIds, int ratio) {
        return compress(contextIds, ratio, CompressOptions.DEFAULT);
    }

    public CompressedContext compress(int[] contextIds, int ratio, CompressOptions options) {
        try (Model.Use u = model.use()) {
            return compressor.compress(contextIds, ratio, options);
        }
    }

    // ---------------------------------------------------------------- baselines

    /** Baseline without compression: the whole context in the decoder's cache, the question right after it. */
    public CompressedContext fullContext(String context) {
        return fullContext(contextIds(context));
    }

    public CompressedContext fullContext(int[] contextIds) {
        Compressor.checkIds(contextIds, config.vocabSize());
        return plain(contextIds.length, contextIds, 1);
    }

    /**
     * Baseline: the context truncated to SAC's budget at {@code ratio} (as many tokens as it keeps anchors), then
     * answered like {@link #fullContext}.
     */
    public CompressedContext truncated(String context, int ratio, Keep keep) {
        return truncated(contextIds(context), ratio, keep);
    }

    public CompressedContext truncated(int[] contextIds, int ratio, Keep keep) {
        Anchors.checkRatio(ratio);
        Compressor.checkIds(contextIds, config.vocabSize());
        int n = contextIds.length, budget = Anchors.count(n, ratio);
        int[] kept = new int[budget];
        if (keep == Keep.FIRST) System.arraycopy(contextIds, 0, kept, 0, budget);
        else {
            kept[0] = contextIds[0];
            System.arraycopy(contextIds, n - budget + 1, kept, 1, budget - 1);
        }
        return plain(n, kept, ratio);
    }

    /** Runs {@code kept} causally at positions 0.. as an ordinary prompt. */
    private CompressedContext plain(int n, int[] kept, int ratio) {
        try (Model.Use u = model.use()) {
            return runPlain(n, kept, ratio);
        }
    }

    private CompressedContext runPlain(int n, int[] kept, int ratio) {
        KvCache cache = decoder.newCache(kept.length);
        for (int s = 0; s < kept.length; s += PREFILL_ROWS) {
            int e = Math.min(kept.length, s + PREFILL_ROWS);
            int[] pos = new int[e - s];
            for (int i = 0; i < pos.length; i++) pos[i] = s + i;
            decoder.forward(Arrays.copyOfRange(kept, s, e), pos, cache, Mask.causal(), Logits.NONE);
        }
        return new CompressedContext(modelFingerprint, CompressedContext.NO_ADAPTER, ratio, n, kept.length, cache,
                CompressedContext.Kind.PLAIN);
    }

    // ---------------------------------------------------------------- answering

    public Answer answer(CompressedContext ctx, String question, AnswerOptions options) {
        return answer(ctx, questionIds(question), options);
    }

    /** Answers templated question ids ({@link #questionIds}). */
    public Answer answer(CompressedContext ctx, int[] questionIds, AnswerOptions options) {
        return answerIds(ctx, List.of(questionIds), options).getFirst();
    }

    /**
     * Answers several questions over one context, decoding up to {@link Answerer#BATCH} of them together (each
     * weight is read once per step for all of them): the same answers as {@link #answer} one by one, faster.
     * {@code options.onToken} needs a single question.
     */
    public List<Answer> answerAll(CompressedContext ctx, List<String> questions, AnswerOptions options) {
        List<int[]> ids = new ArrayList<>(questions.size());
        for (String q : questions) ids.add(questionIds(q));
        return answerIds(ctx, ids, options);
    }

    /** {@link #answerAll} of templated question ids ({@link #questionIds}). */
    public List<Answer> answerIds(CompressedContext ctx, List<int[]> questionIds, AnswerOptions options) {
        if (!ctx.modelFingerprint().equals(modelFingerprint))
            throw new SacException("compressed context: made by model " + ctx.modelFingerprint()
                    + ", not by this model (" + modelFingerprint + ")");
        if (ctx.kind() == CompressedContext.Kind.SAC && !ctx.adapterFingerprint().equals(adapterFingerprint()))
            throw new SacException("compressed context: made with SAC adapter " + ctx.adapterFingerprint()
                    + ", not with this instance's adapter (" + adapterFingerprint() + ")");
        try (Model.Use u = model.use()) {
            return answerer.answerAll(ctx, questionIds, options);
        }
    }

    /** Frees the merged encoder weights (not the model, not the backend). */
    @Override
    public void close() {
        compressor.close();
    }
}
