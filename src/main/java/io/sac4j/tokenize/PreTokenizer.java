package io.sac4j.tokenize;

import io.sac4j.SacException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The pre-tokenizers of byte-level BPE tokenizers: they cut normalized text into the words that BPE runs on.
 * Pieces stay ordinary text here; the byte-level mapping is applied by {@link BpeTokenizer} to each final piece,
 * which is why ByteLevel must be the last step.
 */
abstract class PreTokenizer {

    /** Appends the pieces of {@code text} (never empty strings) to {@code out}. */
    abstract void split(String text, List<String> out);

    final List<String> split(String text) {
        List<String> out = new ArrayList<>();
        split(text, out);
        return out;
    }

    /**
     * Split on a regex: matches and the text between them become pieces ("Isolated"), or the matches are dropped
     * ("Removed"). The regex may come from a downloaded tokenizer.json, so matching is bounded: the matcher reads the
     * text through a {@link Budget} of {@value #STEPS_PER_CHAR} character reads per character (the built-in patterns
     * need about 4), and a pattern that backtracks past it, or recurses deeper than the stack allows, fails with a
     * one-line error naming the tokenizer instead of hanging or throwing StackOverflowError.
     */
    static final class RegexSplit extends PreTokenizer {
        static final int STEPS_PER_CHAR = 1000;
        private static final int STEPS_BASE = 1_000_000;
        private final Pattern pattern;
        private final boolean removeMatches;
        private final String source;

        RegexSplit(Pattern pattern, boolean removeMatches, String source) {
            this.pattern = pattern;
            this.removeMatches = removeMatches;
            this.source = source;
        }

        @Override
        void split(String text, List<String> out) {
            Matcher m = pattern.matcher(new Budget(text, STEPS_BASE + (long) STEPS_PER_CHAR * text.length()));
            int prev = 0;
            try {
                while (m.find()) {
                    int s = m.start();
                    int e = m.end();
                    if (s == e) continue; // empty matches split nothing
                    if (s > prev) out.add(text.substring(prev, s));
                    if (!removeMatches) out.add(text.substring(s, e));
                    prev = e;
                }
            } catch (Budget.Exhausted e) {
                throw new SacException(source, "the pre-tokenizer regex " + OnigRegex.quote(pattern.pattern())
                        + " backtracks too much on a text of " + text.length() + " characters (catastrophic backtracking)");
            } catch (StackOverflowError e) {
                throw new SacException(source, "the pre-tokenizer regex " + OnigRegex.quote(pattern.pattern())
                        + " recurses too deeply on a text of " + text.length() + " characters");
            }
            if (prev < text.length()) out.add(text.substring(prev));
        }
    }

    /** A text that counts the reads of the matcher and gives up after {@code steps} of them. */
    private static final class Budget implements CharSequence {
        /** Thrown without a stack trace: it only unwinds the matcher. */
        static final class Exhausted extends RuntimeException {
            Exhausted() {
                super("regex step budget exhausted", null, false, false);
            }
        }

        private final String s;
        private long steps;

        Budget(String s, long steps) {
            this.s = s;
            this.steps = steps;
        }

        @Override
        public int length() {
            return s.length();
        }

        @Override
        public char charAt(int index) {
            if (--steps < 0) throw new Exhausted();
            return s.charAt(index);
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return s.subSequence(start, end);
        }

        @Override
        public String toString() {
            return s;
        }
    }

    /** Numbers (Unicode category N, Rust's char::is_numeric) split from the rest, one per piece or as runs. */
    static final class Digits extends PreTokenizer {
        private final boolean individual;

        Digits(boolean individual) {
            this.individual = individual;
        }

        static boolean isNumeric(int cp) {
            int t = Character.getType(cp);
            return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
        }

        @Override
        void split(String text, List<String> out) {
            int start = 0;
            int i = 0;
            while (i < text.length()) {
                int cp = text.codePointAt(i);
                int len = Character.charCount(cp);
                if (isNumeric(cp)) {
                    if (i > start) out.add(text.substring(start, i));
                    int end = i + len;
                    if (!individual) {
                        while (end < text.length() && isNumeric(text.codePointAt(end))) {
                            end += Character.charCount(text.codePointAt(end));
                        }
                    }
                    out.add(text.substring(i, end));
                    start = i = end;
                } else {
                    i += len;
                }
            }
            if (start < text.length()) out.add(text.substring(start));
        }
    }

    /** The ByteLevel pre-tokenizer: optional prefix space, then (use_regex) GPT-2's split. */
    static final class ByteLevelStep extends PreTokenizer {
        private final boolean addPrefixSpace;
        private final RegexSplit regex;

        ByteLevelStep(boolean addPrefixSpace, boolean useRegex, String source) {
            this.addPrefixSpace = addPrefixSpace;
            this.regex = useRegex ? new RegexSplit(OnigRegex.compile(OnigRegex.GPT2, source), false, source) : null;
        }

        @Override
        void split(String text, List<String> out) {
            if (addPrefixSpace && !text.startsWith(" ")) text = " " + text;
            if (regex != null) regex.split(text, out);
            else if (!text.isEmpty()) out.add(text);
        }
    }

    static final class Sequence extends PreTokenizer {
        private final PreTokenizer[] steps;

        Sequence(List<PreTokenizer> steps) {
            this.steps = steps.toArray(PreTokenizer[]::new);
        }

        @Override
        void split(String text, List<String> out) {
            List<String> cur = List.of(text);
            for (int s = 0; s < steps.length; s++) {
                List<String> next = s == steps.length - 1 ? out : new ArrayList<>();
                for (String piece : cur) steps[s].split(piece, next);
                cur = next;
            }
        }
    }

    // ---- tokenizer.json ----

    /** Builds the pre-tokenizer of a byte-level BPE tokenizer.json; anything else is refused with a clear message. */
    static PreTokenizer fromJson(Object cfg, String source) {
        if (!(cfg instanceof Map<?, ?> m)) {
            throw new SacException(source, "\"pre_tokenizer\" must be an object with a ByteLevel step"
                    + " (only byte-level BPE tokenizers are supported)");
        }
        List<PreTokenizer> steps = new ArrayList<>();
        String type = typeOf(m, source);
        if (type.equals("Sequence")) {
            Object list = m.get("pretokenizers");
            if (!(list instanceof List<?> items) || items.isEmpty()) {
                throw new SacException(source, "pre_tokenizer Sequence needs a non-empty \"pretokenizers\" list");
            }
            for (Object item : items) {
                if (!(item instanceof Map<?, ?> im)) throw new SacException(source, "pre_tokenizer Sequence entries must be objects");
                steps.add(single(im, typeOf(im, source), source));
            }
        } else {
            steps.add(single(m, type, source));
        }
        for (int i = 0; i < steps.size(); i++) {
            boolean byteLevel = steps.get(i) instanceof ByteLevelStep;
            if (byteLevel != (i == steps.size() - 1)) {
                throw new SacException(source, "pre_tokenizer must end with exactly one ByteLevel step"
                        + " (only byte-level BPE tokenizers are supported)");
            }
        }
        return steps.size() == 1 ? steps.get(0) : new Sequence(steps);
    }

    private static String typeOf(Map<?, ?> m, String source) {
        if (m.get("type") instanceof String s) return s;
        throw new SacException(source, "a pre_tokenizer has no \"type\"");
    }

    private static PreTokenizer single(Map<?, ?> m, String type, String source) {
        switch (type) {
            case "ByteLevel":
                return new ByteLevelStep(bool(m, "add_prefix_space", false, source), bool(m, "use_regex", true, source),
                        source);
            case "Digits":
                return new Digits(bool(m, "individual_digits", false, source));
            case "Split": {
                if (bool(m, "invert", false, source)) {
                    throw new SacException(source, "pre_tokenizer Split with invert=true is not supported");
                }
                Object behavior = m.get("behavior");
                boolean removed;
                if ("Isolated".equals(behavior)) removed = false;
                else if ("Removed".equals(behavior)) removed = true;
                else throw new SacException(source, "pre_tokenizer Split behavior " + behavior
                            + " is not supported (Isolated or Removed)");
                if (!(m.get("pattern") instanceof Map<?, ?> p)) {
                    throw new SacException(source, "pre_tokenizer Split needs a \"pattern\" object");
                }
                Pattern pattern;
                if (p.get("Regex") instanceof String re) pattern = OnigRegex.compile(re, source);
                else if (p.get("String") instanceof String lit) pattern = Pattern.compile(Pattern.quote(lit));
                else throw new SacException(source, "pre_tokenizer Split pattern must be {\"Regex\": ...} or {\"String\": ...}");
                return new RegexSplit(pattern, removed, source);
            }
            default:
                throw new SacException(source, "pre_tokenizer type \"" + type + "\" is not supported"
                        + " (ByteLevel, Split, Digits, Sequence)");
        }
    }

    private static boolean bool(Map<?, ?> m, String key, boolean dflt, String source) {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (v instanceof Boolean b) return b;
        throw new SacException(source, "pre_tokenizer \"" + key + "\" must be true or false, got " + v);
    }
}
