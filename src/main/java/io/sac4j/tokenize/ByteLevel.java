package io.sac4j.tokenize;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible map between the 256 byte values and printable characters, which byte-level BPE vocabularies
 * (GPT-2, Llama 3, Qwen2, SmolLM2) are written in: printable Latin-1 bytes map to themselves, the others (controls,
 * space, 0x7f-0xa0, 0xad) to U+0100 upwards, so a space is "Ġ" and a newline "Ċ".
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[324];

    static {
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xa1; b <= 0xac; b++) direct[b] = true;
        for (int b = 0xae; b <= 0xff; b++) direct[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) BYTE_TO_CHAR[b] = direct[b] ? (char) b : (char) (256 + n++);
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        for (int b = 0; b < 256; b++) CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
    }

    private ByteLevel() {}

    static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xff];
    }

    /** The byte-level form of {@code s}: one character per UTF-8 byte. */
    static String encode(String s) {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[utf8.length];
        for (int i = 0; i < utf8.length; i++) out[i] = BYTE_TO_CHAR[utf8[i] & 0xff];
        return new String(out);
    }

    /**
     * The raw bytes of a byte-level token string. A character outside the map (a vocabulary entry that is not
     * byte-level text) contributes its own UTF-8 bytes, so nothing is silently dropped.
     */
    static byte[] decode(String token) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); ) {
            int cp = token.codePointAt(i);
            i += Character.charCount(cp);
            if (cp < CHAR_TO_BYTE.length && CHAR_TO_BYTE[cp] >= 0) {
                out.write(CHAR_TO_BYTE[cp]);
            } else {
                out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
            }
        }
        return out.toByteArray();
    }
}
