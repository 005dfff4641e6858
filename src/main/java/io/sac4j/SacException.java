package io.sac4j;

import java.nio.file.Path;

/**
 * The one exception type the library throws for bad input: a file that is truncated, corrupt, of the wrong shape or
 * architecture, or arguments that cannot work. {@link #getMessage()} is a single line that names the file (when there
 * is one) and what is wrong, exactly what the CLI prints after {@code sac: error: }.
 */
public class SacException extends RuntimeException {
    private final String source;

    public SacException(String message) {
        this((String) null, message, null);
    }

    public SacException(Path file, String message) {
        this(file == null ? null : file.toString(), message, null);
    }

    public SacException(String source, String message) {
        this(source, message, null);
    }

    public SacException(String source, String message, Throwable cause) {
        super(oneLine(source == null ? message : source + ": " + message), cause);
        this.source = source;
    }

    /** The file or resource the problem is in, or null when it is not about a file. */
    public String source() {
        return source;
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ').replace('\r', ' ');
    }
}
