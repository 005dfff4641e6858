package io.sac4j.compress;

import io.sac4j.SacException;

import java.util.function.IntConsumer;

/**
 * How a question is answered: greedy decoding (as SAC evaluates) until EOS or {@code maxNewTokens}.
 *
 * @param maxNewTokens most answer tokens (SAC.md: 1024)
 * @param keepLogits   keep the full logits of the first this-many decoding steps in {@link Answer#logits()} (tests,
 *                     diagnostics); 0 keeps none
 * @param onToken      called with each answer token as it is chosen (streaming), or null; it streams one answer, so
 *                     {@link Sac#answerAll} takes it only with a single question
 */
public record AnswerOptions(int maxNewTokens, int keepLogits, IntConsumer onToken) {
    public static final AnswerOptions DEFAULT = new AnswerOptions(1024, 0, null);

    public AnswerOptions {
        if (maxNewTokens < 1) throw new SacException("max new tokens must be >= 1, got " + maxNewTokens);
        if (keepLogits < 0) throw new SacException("logits to keep must be >= 0, got " + keepLogits);
    }

    public AnswerOptions withMaxNewTokens(int n) {
        return new AnswerOptions(n, keepLogits, onToken);
    }

    public AnswerOptions withKeepLogits(int steps) {
        return new AnswerOptions(maxNewTokens, steps, onToken);
    }

    public AnswerOptions withOnToken(IntConsumer callback) {
        return new AnswerOptions(maxNewTokens, keepLogits, callback);
    }
}
