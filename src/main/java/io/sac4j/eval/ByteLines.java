package io.sac4j.eval;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Splits a byte stream into '\n'-terminated lines and decodes each one as strict UTF-8 on its own, so that a read
 * error or a bad byte is reported against the exact line it is in (a Reader decodes ahead in large blocks, so its
 * errors surface lines early), and so the caller can tell whether the last line had its newline.
 */
final class ByteLines implements Closeable {
    private final InputStream in;
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int lim;
    private boolean eof;
    private long number;
    private boolean terminated = true;
    private boolean partial;

    ByteLines(InputStream in) {
        this.in = in;
    }

    /** The next line's bytes without its '\n' (a trailing '\r' is kept), or null at the end of the stream. */
    byte[] next() throws IOException {
        ByteArrayOutputStream line = null;
        while (true) {
            if (pos == lim) {
                if (eof) break;
                partial = line != null && line.size() > 0;
                int n = in.read(buf, 0, buf.length);
                if (n < 0) {
                    eof = true;
                    break;
                }
                pos = 0;
                lim = n;
            }
            int start = pos;
            while (pos < lim && buf[pos] != '\n') pos++;
            if (pos < lim) { // found the newline
                byte[] out;
                if (line == null) {
                    out = java.util.Arrays.copyOfRange(buf, start, pos);
                } else {
                    line.write(buf, start, pos - start);
                    out = line.toByteArray();
                }
                pos++;
                number++;
                terminated = true;
                return out;
            }
            if (line == null) line = new ByteArrayOutputStream(Math.max(256, (lim - start) * 2));
            line.write(buf, start, lim - start);
        }
        if (line == null || line.size() == 0) return null;
        number++;
        terminated = false;
        return line.toByteArray();
    }

    /** Number of the line {@link #next} returned last (1-based); the line being read when next() fails is this + 1. */
    long number() {
        return number;
    }

    /** After next() failed: whether some bytes of the line being read had arrived (else it failed between lines). */
    boolean failedInsideALine() {
        return partial;
    }

    /** Whether the line returned last ended with '\n' (false: the stream ended inside it). */
    boolean terminated() {
        return terminated;
    }

    /** Strict UTF-8; a trailing '\r' (CRLF files) is dropped. */
    static String decode(byte[] line) throws CharacterCodingException {
        String s = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(line)).toString();
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
