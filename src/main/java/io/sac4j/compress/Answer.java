package io.sac4j.compress;

import java.util.List;

/**
 * A generated answer.
 *
 * @param text          the answer decoded to text, or null when the model has no tokenizer; ids beyond the
 *                      tokenizer's vocabulary (a padded embedding table) are left out of it
 * @param ids           answer token ids, EOS not included
 * @param stop          why generation ended
 * @param promptRows    decoder input rows before the answer ([LM] + question ids, or the question ids alone)
 * @param prefillNanos  time to run the prompt rows (to the first answer token)
 * @param decodeSteps   one-token decoder calls after the prompt (each chooses the next token or EOS)
 * @param decodeNanos   time of those calls (questions answered together share each call: it counts in full for each)
 * @param logits        full logits of the first {@link AnswerOptions#keepLogits()} steps (step 0 chooses ids[0])
 */
public record Answer(String text, int[] ids, Stop stop, int promptRows, long prefillNanos, int decodeSteps, long decodeNanos,
                     List<float[]> logits) {

    public enum Stop {
        /** The model produced an end-of-sequence token. */
        EOS,
        /** {@link AnswerOptions#maxNewTokens()} tokens were generated. */
        MAX_TOKENS
    }

    /** Decoding speed after the prompt, tokens per second (0 when nothing was decoded). */
    public double decodeTokensPerSecond() {
        return decodeSteps == 0 || decodeNanos == 0 ? 0 : decodeSteps * 1e9 / decodeNanos;
    }
}
