package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.load.ModelConfig;
import io.sac4j.tokenize.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The SAC decoder (SAC.md, "Answering"): the frozen base model over a compressed context. Its input is the [LM]
 * vector at position n, then the question ids at n+1, n+2, ...; the new rows see every compressed row and,
 * causally, each other ({@link Mask#prefix()}); greedy argmax until EOS or the token limit. Training-free contexts
 * have no [LM] (the question starts at n+1); baseline contexts are ordinary prompts (the question follows them).
 * Thread-safe: each call has its own cache on top of the shared, read-only compressed one.
 */
public final class Answerer {
    /** The first decoder cache holds the prompt and this many answer tokens; longer answers chain another cache. */
    private static final int FIRST_ANSWER_ROWS = 256;

    private final Llama decoder;
    private final float[] lm;
    private final Tokenizer tokenizer;

    /** {@code lmVector}: special_tokens[1] of the adapter ([dim]), or null without an adapter. */
    public Answerer(Llama decoder, float[] lmVector, Tokenizer tokenizerOrNull) {
        if (lmVector != null && lmVector.length != decoder.config().dim())
            throw new IllegalArgumentException("[LM] vector has " + lmVector.length + " values, dim is " + decoder.config().dim());
        this.decoder = decoder;
        this.lm = lmVector;
        this.tokenizer = tokenizerOrNull;
    }

    /** Answers {@code questionIds} (already templated: "\n### Question:\n" + question + "\n### Answer:\n"). */
    public Answer answer(CompressedContext ctx, int[] questionIds, AnswerOptions options) {
        return answerAll(ctx, List.of(questionIds), options).getFirst();
    }

    /**
     * Answers several questions over one context, decoding up to {@link #BATCH} of them together: each step runs one
     * row per unfinished question through {@link Llama#decodeEach}, so the weights are read once per step for all
     * of them. A question joins as soon as a place is free (its prompt runs alone, as in {@link #answer}). Each
     * answer is the one {@link #answer} gives that question (on the CPU bit for bit, logits included); its timings
     * are its own prompt and the steps it took part in. {@code options.onToken} streams one answer, so it needs a
     * single question.
     */
    public List<Answer> answerAll(CompressedContext ctx, List<int[]> questions, AnswerOptions options) {
        if (options.onToken() != null && questions.size() > 1)
            throw new IllegalArgumentException("onToken streams one answer: ask " + questions.size() + " questions one at a time");
        List<int[]> prompts = new ArrayList<>(questions.size()); // every question is checked before any work
        for (int[] q : questions) prompts.add(positions(ctx, q, options));
        Answer[] done = new Answer[questions.size()];
        List<Sequence> active = new ArrayList<>();
        int next = 0;
        while (next < questions.size() || !active.isEmpty()) {
            while (active.size() < BATCH && next < questions.size()) {
                Sequence sq = new Sequence(next, questions.get(next), prompts.get(next), ctx, options);
                next++;
                if (sq.take()) done[sq.index] = sq.answer(); // EOS or the limit at once
                else active.add(sq);
            }
            if (active.isEmpty()) continue;
            int rows = active.size();
            int[] tokens = new int[rows], positions = new int[rows];
            KvCache[] caches = new KvCache[rows];
            for (int i = 0; i < rows; i++) {
                Sequence sq = active.get(i);
                // a full cache becomes the read-only prefix of a larger one: no copy
                if (sq.cache.length() == sq.cache.capacity())
                    sq.cache = decoder.newCache(Math.max(FIRST_ANSWER_ROWS, sq.cache.length()), sq.cache);
                tokens[i] = sq.ids[sq.count - 1];
                positions[i] = ++sq.pos;
                caches[i] = sq.cache;
            }
            long t0 = System.nanoTime();
            float[] logits = decoder.decodeEach(tokens, positions, caches, Mask.prefix());
            long step = System.nanoTime() - t0;
            int vocab = decoder.config().vocabSize();
            List<Sequence> still = new ArrayList<>(rows);
            for (int i = 0; i < rows; i++) {
                Sequence sq = active.get(i);
                sq.steps++;
                sq.decodeNanos += step;
                sq.logits = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
                if (sq.take()) done[sq.index] = sq.answer();
                else still.add(sq);
            }
            active = still;
        }
        return List.of(done);
    }

    /** Questions decoded together at most: on the CPU, up to CpuMatmul.EXACT_ROWS rows keep every answer exact. */
    public static final int BATCH = 8;

    /**
     * The positions of a question's prompt rows ([LM] at n for SAC contexts, then the ids), after checking the ids,
     * the context kind and the room left for the answer.
     */
    private int[] positions(CompressedContext ctx, int[] questionIds, AnswerOptions options) {
        ModelConfig c = decoder.config();
        int q = questionIds.length;
        for (int i = 0; i < q; i++)
            if (questionIds[i] < 0 || questionIds[i] >= c.vocabSize())
                throw new SacException("question ids: token " + questionIds[i] + " at index " + i
                        + " is outside the vocabulary (0.." + (c.vocabSize() - 1) + ")");
        boolean withLm = ctx.kind() == CompressedContext.Kind.SAC;
        if (withLm && lm == null)
            throw new SacException("compressed context: made with SAC adapter " + ctx.adapterFingerprint()
                    + ", but this instance has no adapter (its [LM] vector starts the answer)");
        int rows = q + (withLm ? 1 : 0);
        if (rows == 0) throw new SacException("question: no tokens");
        if (rows > c.maxSeqLen())
            throw new SacException("question: " + rows + " tokens with the prompt template, more than the model's context of "
                    + c.maxSeqLen() + " tokens");
        int first = switch (ctx.kind()) {
            case SAC -> ctx.contextTokens();             // [LM] at n
            case TRAINING_FREE -> ctx.contextTokens() + 1; // no [LM]: n is left out
            case PLAIN -> ctx.anchors();                  // right after the kept tokens (positions 0..anchors-1)
        };
        // positions are ints: a context claiming ~2^31 tokens (a doctored .sac file) must not wrap around
        if ((long) first + rows + options.maxNewTokens() > Integer.MAX_VALUE)
            throw new SacException("compressed context: " + ctx.contextTokens() + " context tokens leave no room for the"
                    + " answer's positions (at most " + Integer.MAX_VALUE + ")");
        int[] positions = new int[rows];
        for (int i = 0; i < rows; i++) positions[i] = first + i;
        return positions;
    }

    /** One question being answered: its cache over the context, the tokens so far and its timings. */
    private final class Sequence {
        final int index;
        final AnswerOptions options;
        final int rows;
        final long prefillNanos;
        final List<float[]> kept = new ArrayList<>();
        KvCache cache;
        float[] logits;
        int[] ids;
        int count, steps, pos;
        long decodeNanos;
        Answer.Stop stop = Answer.Stop.MAX_TOKENS;

        /** Runs the prompt, [LM] (SAC) and the ids at {@code positions}, over the context to the first answer token's logits. */
        Sequence(int index, int[] questionIds, int[] positions, CompressedContext ctx, AnswerOptions options) {
            this.index = index;
            this.options = options;
            int dim = decoder.config().dim(), q = questionIds.length;
            rows = positions.length;
            float[] x = new float[rows * dim];
            if (rows > q) System.arraycopy(lm, 0, x, 0, dim);
            if (q > 0) System.arraycopy(decoder.embed(questionIds), 0, x, (rows - q) * dim, q * dim);
            long t0 = System.nanoTime();
            cache = decoder.newCache(rows + Math.min(options.maxNewTokens(), FIRST_ANSWER_ROWS), ctx.cache());
            logits = decoder.forwardEmbeddings(x, rows, positions, cache, Mask.prefix(), Logits.LAST);
            prefillNanos = System.nanoTime() - t0;
            pos = positions[rows - 1];
            ids = new int[Math.min(options.maxNewTokens(), FIRST_ANSWER_ROWS)];
        }

        /** Chooses the next token from the latest logits; true when the answer is complete (EOS or the limit). */
        boolean take() {
            if (kept.size() < options.keepLogits()) kept.add(logits);
            int next = argmax(logits);
            if (decoder.config().isEos(next)) {
                stop = Answer.Stop.EOS;
                return true;
            }
            if (count == ids.length) ids = Arrays.copyOf(ids, Math.min(options.maxNewTokens(), 2 * count));
            ids[count++] = next;
            if (options.onToken() != null) options.onToken().accept(next);
            return count == options.maxNewTokens();
        }

        Answer answer() {
            int[] answer = Arrays.copyOf(ids, count);
            String text = tokenizer == null ? null : tokenizer.decode(known(answer));
            return new Answer(text, answer, stop, rows, prefillNanos, steps, decodeNanos, List.copyOf(kept));
        }
    }

    /** The ids the tokenizer can decode: a padded embedding table may produce ids it does not have. */
    private int[] known(int[] ids) {
        int v = tokenizer.vocabSize();
        return Arrays.stream(ids).filter(t -> t < v).toArray();
    }

    /** Index of the largest value; the first one on ties (as torch.argmax). */
    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
