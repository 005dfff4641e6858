package io.sac4j.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * The few Python 3 {@code str} operations the reference metrics use, reproduced code point by code point (Python
 * strings are code point sequences; lone surrogates are kept as they are). Checked against CPython 3.11 for every
 * code point by {@code PyStrTest} (fixture from scripts/eval/reference_metrics.py).
 *
 * <p>Where the JDK and Python disagree:
 * <ul>
 * <li>{@code str.split()} whitespace is CPython's own list (it includes U+001C..U+001F, U+0085, U+00A0, U+2007,
 *     U+202F, which {@link Character#isWhitespace} gets partly wrong for this purpose).</li>
 * <li>{@code str.lower()} equals {@link Character#toLowerCase(int)} for every single code point except U+0130
 *     (full mapping "i&#92;u0307", as {@code String.toLowerCase(Locale.ROOT)} also does) and capital sigma, whose
 *     final form depends on context: Python uses the Unicode Final_Sigma rule over Cased/Case_Ignorable characters,
 *     while {@code String.toLowerCase} uses word-break boundaries, and they differ (e.g. "A1&#931;": Python "a1&#963;",
 *     Java "a1&#962;"). So sigma is handled here with Python's rule.</li>
 * <li>re's {@code \w} (what {@code \b} looks at) is Python's {@code str.isalnum() or '_'}: letters (L*), and
 *     characters with a numeric type (Nd, Nl, No), but not combining marks, unlike Java's UNICODE_CHARACTER_CLASS.</li>
 * <li>Unicode versions: the JDK 25 tables are Unicode 16, CPython 3.11 uses Unicode 14. For characters assigned
 *     or re-categorised after 14.0 (e.g. U+1171E, Mn then, Mc now) the answers follow the JDK.</li>
 * </ul>
 */
final class PyStr {
    private PyStr() {
    }

    /** CPython's {@code Py_UNICODE_ISSPACE}: what {@code str.split()} and {@code str.isspace()} treat as whitespace. */
    static boolean isSpace(int c) {
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    /** re's {@code \w} for str patterns: {@code str.isalnum()} (alpha or any numeric type) or underscore. */
    static boolean isWord(int c) {
        if (c == '_' || Character.isLetter(c)) return true;
        int t = Character.getType(c);
        return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
    }

    /** Unicode Cased (Lowercase, Uppercase or Lt); Java's isLowerCase/isUpperCase include the Other_ properties. */
    static boolean isCased(int c) {
        return Character.isLowerCase(c) || Character.isUpperCase(c) || Character.isTitleCase(c);
    }

    /** Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter / MidNumLet / Single_Quote. */
    static boolean isCaseIgnorable(int c) {
        switch (Character.getType(c)) {
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.FORMAT, Character.MODIFIER_LETTER,
                 Character.MODIFIER_SYMBOL -> {
                return true;
            }
            default -> {
            }
        }
        return switch (c) {
            // MidLetter
            case 0x003A, 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2027, 0xFE13, 0xFE55, 0xFF1A -> true;
            // MidNumLet, Single_Quote
            case 0x002E, 0x2018, 0x2019, 0x2024, 0xFE52, 0xFF07, 0xFF0E, 0x0027 -> true;
            default -> false;
        };
    }

    /** Python's {@code s.lower()}. */
    static String lower(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            if (cp == 0x03A3) b.append(finalSigma(s, i) ? '\u03C2' : '\u03C3');
            else if (cp == 0x0130) b.append("i\u0307");
            else b.appendCodePoint(Character.toLowerCase(cp));
            i += Character.charCount(cp);
        }
        return b.toString();
    }

    /** CPython's handle_capital_sigma: cased (skipping case-ignorables) before, and no such cased letter after. */
    private static boolean finalSigma(String s, int i) {
        int j = i;
        int c = -1;
        while (j > 0) {
            c = s.codePointBefore(j);
            j -= Character.charCount(c);
            if (!isCaseIgnorable(c)) break;
            c = -1;
        }
        if (c < 0 || !isCased(c)) return false;
        for (int k = i + 1; k < s.length(); ) {
            int d = s.codePointAt(k);
            if (!isCaseIgnorable(d)) return !isCased(d);
            k += Character.charCount(d);
        }
        return true;
    }

    /** Python's {@code s[from:to].split()}: runs of non-whitespace. */
    static List<String> split(String s, int from, int to) {
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = from; i < to; i++) {
            // every Python whitespace character is in the BMP, so char-wise scanning is exact
            boolean sp = isSpace(s.charAt(i));
            if (sp && start >= 0) {
                out.add(s.substring(start, i));
                start = -1;
            } else if (!sp && start < 0) {
                start = i;
            }
        }
        if (start >= 0) out.add(s.substring(start, to));
        return out;
    }

    static List<String> split(String s) {
        return split(s, 0, s.length());
    }
}
