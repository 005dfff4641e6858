package io.sac4j.tokenize;

import io.sac4j.SacException;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Translates the regular expressions in tokenizer.json (written for the Rust tokenizers crate, which compiles them
 * with Oniguruma) to {@link java.util.regex}. The syntax is nearly the same; the meanings that differ are rewritten:
 * <ul>
 *   <li>{@code \s}/{@code \S} are Unicode White_Space (Java's default is ASCII only), {@code \d} is \p{Nd},
 *       {@code \w} is letters, marks, decimal digits and connector punctuation, {@code \h} is a hex digit (Java's
 *       {@code \h} is horizontal space) and {@code \v} is U+000B (Java's is a class of vertical space);</li>
 *   <li>{@code ^}, {@code $} are line anchors on '\n' only and {@code .} excludes only '\n' (MULTILINE, UNIX_LINES);
 *   <li>{@code (?i:...)} folds ASCII case, as Java does by default (Oniguruma folds full Unicode; the pretokenizer
 *       patterns only apply it to ASCII contraction suffixes, where the two agree except for 'ſ' and 'K');</li>
 *   <li>possessive quantifiers and atomic groups keep their meaning: Java supports both.</li>
 * </ul>
 * Constructs with no faithful translation (\G, \K, POSIX brackets, comments) are refused, not approximated.
 */
final class OnigRegex {
    /** GPT-2's pattern, built into the ByteLevel pre-tokenizer when use_regex is true. */
    static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Llama 3's Split pattern. */
    static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
            + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's Split pattern: Llama 3's with single digits. */
    static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
            + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final String WS = "\\p{IsWhite_Space}";
    private static final String NOT_WS = "\\P{IsWhite_Space}";
    private static final String WORD = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

    private OnigRegex() {}

    static Pattern compile(String onig, String source) {
        String java = translate(onig, source);
        try {
            return Pattern.compile(java, Pattern.MULTILINE | Pattern.UNIX_LINES);
        } catch (PatternSyntaxException e) {
            throw new SacException(source, "cannot compile the pre-tokenizer regex " + quote(onig) + ": "
                    + e.getDescription());
        }
    }

    static String translate(String re, String source) {
        StringBuilder out = new StringBuilder(re.length() + 32);
        int depth = 0; // nesting of character classes
        int i = 0;
        while (i < re.length()) {
            char c = re.charAt(i);
            if (c == '\\') {
                if (i + 1 >= re.length()) throw unsupported(re, "a trailing backslash", source);
                char e = re.charAt(i + 1);
                i += 2;
                boolean inClass = depth > 0;
                switch (e) {
                    case 's' -> out.append(WS);
                    case 'S' -> out.append(NOT_WS);
                    case 'd' -> out.append("\\p{Nd}");
                    case 'D' -> out.append("\\P{Nd}");
                    case 'w' -> out.append(inClass ? WORD : "[" + WORD + "]");
                    case 'W' -> {
                        if (inClass) throw unsupported(re, "\\W inside a character class", source);
                        out.append("[^" + WORD + "]");
                    }
                    case 'h' -> out.append(inClass ? "0-9A-Fa-f" : "[0-9A-Fa-f]");
                    case 'H' -> {
                        if (inClass) throw unsupported(re, "\\H inside a character class", source);
                        out.append("[^0-9A-Fa-f]");
                    }
                    case 'v' -> out.append("\\x0B");
                    case 'a' -> out.append("\\x07");
                    case 'e' -> out.append("\\x1B");
                    case 'p', 'P' -> {
                        if (i >= re.length() || re.charAt(i) != '{') throw unsupported(re, "\\" + e + " without {name}", source);
                        int close = re.indexOf('}', i);
                        if (close < 0) throw unsupported(re, "an unterminated \\" + e + "{", source);
                        String name = re.substring(i + 1, close);
                        boolean negate = e == 'P';
                        if (name.startsWith("^")) {
                            negate = !negate;
                            name = name.substring(1);
                        }
                        out.append(property(negate, name, re, source));
                        i = close + 1;
                    }
                    case 'G', 'K', 'y', 'Y', 'O', 'X', 'R', 'N' -> throw unsupported(re, "\\" + e, source);
                    default -> out.append('\\').append(e);
                }
                continue;
            }
            if (c == '[') {
                if (depth > 0 && re.startsWith("[:", i)) throw unsupported(re, "a POSIX bracket expression", source);
                depth++;
                out.append('[');
                i++;
                if (i < re.length() && re.charAt(i) == '^') {
                    out.append('^');
                    i++;
                }
                // Oniguruma takes a ']' right after '[' or '[^' literally; Java would not
                if (i < re.length() && re.charAt(i) == ']') {
                    out.append("\\]");
                    i++;
                }
                continue;
            }
            if (c == ']' && depth > 0) {
                depth--;
                out.append(']');
                i++;
                continue;
            }
            if (c == '(' && re.startsWith("(?#", i)) throw unsupported(re, "a (?#...) comment", source);
            out.append(c);
            i++;
        }
        return out.toString();
    }

    private static String property(boolean negate, String name, String re, String source) {
        String p = negate ? "\\P" : "\\p";
        for (String candidate : new String[] {name, "Is" + name}) {
            String t = p + "{" + candidate + "}";
            try {
                Pattern.compile(t);
                return t;
            } catch (PatternSyntaxException ignored) {
                // try the next spelling
            }
        }
        throw unsupported(re, "the Unicode property " + name, source);
    }

    private static SacException unsupported(String re, String what, String source) {
        return new SacException(source, "pre-tokenizer regex " + quote(re) + " uses " + what
                + ", which is not supported");
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        int n = 0;
        for (int i = 0; i < s.length() && n < 120; i++, n++) {
            char c = s.charAt(i);
            if (c == '\n') b.append("\\n");
            else if (c == '\r') b.append("\\r");
            else if (c == '\t') b.append("\\t");
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        if (s.length() > 120) b.append("...");
        return b.append('"').toString();
    }
}
