package io.sac4j.tokenize;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns tokens into text as they are generated. Byte-level tokens can end in the middle of a UTF-8 character, so
 * bytes are held back until the character they start is complete.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private int prev = -1;

    public StreamDecoder(Tokenizer tokenizer, int prev) {
        this.tokenizer = tokenizer;
        this.prev = prev;
    }

    /** Text that became complete with {@code token} (possibly empty). */
    public String next(int token) {
        pending.writeBytes(tokenizer.tokenBytes(prev, token));
        prev = token;
        byte[] b = pending.toByteArray();
        int end = completePrefix(b);
        pending.reset();
        pending.write(b, end, b.length - end);
        return new String(b, 0, end, StandardCharsets.UTF_8);
    }

    /** Whatever is still held back (an incomplete character at the end comes out as U+FFFD). */
    public String flush() {
        String s = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return s;
    }

    /** Length of the longest prefix that does not end inside a UTF-8 sequence that may still be completed. */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // look back at most 3 bytes for the start of an unfinished sequence
        for (int k = 1; k <= Math.min(3, n); k++) {
            int c = b[n - k] & 0xff;
            if ((c & 0xc0) == 0x80) continue; // continuation byte: keep looking for the lead
            int need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            return need > k ? n - k : n;
        }
        return n;
    }
}
