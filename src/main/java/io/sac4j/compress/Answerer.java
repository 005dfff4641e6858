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
        ModelConfig c = decoder.config();
        int dim = c.dim(), q = questionIds.length;
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
        float[] x = new float[rows * dim];
        if (withLm) System.arraycopy(lm, 0, x, 0, dim);
        if (q > 0) System.arraycopy(decoder.embed(questionIds), 0, x, (rows - q) * dim, q * dim);
        int[] positions = new int[rows];
        for (int i = 0; i < rows; i++) positions[i] = first + i;

        long t0 = System.nanoTime();
        KvCache cache = decoder.newCache(rows + Math.min(options.maxNewTokens(), FIRST_ANSWER_ROWS), ctx.cache());
        float[] logits = decoder.forwardEmbeddings(x, rows, positions, cache, Mask.prefix(), Logits.LAST);
        long prefill = System.nanoTime() - t0;

        List<float[]> kept = new ArrayList<>();
        int[] ids = new int[Math.min(options.maxNewTokens(), FIRST_ANSWER_ROWS)];
        int count = 0, steps = 0, pos = positions[rows - 1];
        Answer.Stop stop = Answer.Stop.MAX_TOKENS;
        long t1 = System.nanoTime();
        while (true) {
            if (kept.size() < options.keepLogits()) kept.add(logits);
            int next = argmax(logits);
            if (c.isEos(next)) {
                stop = Answer.Stop.EOS;
                break;
            }
            if (count == ids.length) ids = Arrays.copyOf(ids, Math.min(options.maxNewTokens(), 2 * count));
            ids[count++] = next;
            if (options.onToken() != null) options.onToken().accept(next);
            if (count == options.maxNewTokens()) break;
            // a full cache becomes the read-only prefix of a larger one: no copy
            if (cache.length() == cache.capacity()) cache = decoder.newCache(Math.max(FIRST_ANSWER_ROWS, cache.length()), cache);
            logits = decoder.forward(new int[]{next}, new int[]{++pos}, cache, Mask.prefix(), Logits.LAST);
            steps++;
        }
        long decode = System.nanoTime() - t1;
        int[] answer = Arrays.copyOf(ids, count);
        String text = tokenizer == null ? null : tokenizer.decode(known(answer));
        return new Answer(text, answer, stop, rows, prefill, steps, decode, List.copyOf(kept));
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
