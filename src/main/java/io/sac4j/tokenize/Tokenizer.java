package io.sac4j.tokenize;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Text to token ids and back. {@link #encode} never adds BOS/EOS: the caller composes prompts from pieces (SAC
 * tokenizes "### Context:\n", the context and the question separately). Implementations are immutable and
 * thread-safe.
 */
public interface Tokenizer {

    /** Token ids of {@code text}, with no special tokens added. Special/added tokens written in the text are matched. */
    int[] encode(String text);

    /** The raw bytes token {@code token} stands for, when it follows {@code prev} (-1 at the start). */
    byte[] tokenBytes(int prev, int token);

    int vocabSize();

    /** Text of a whole sequence (bytes joined, then decoded as UTF-8; invalid sequences become U+FFFD). */
    default String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = -1;
        for (int id : ids) {
            out.writeBytes(tokenBytes(prev, id));
            prev = id;
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
