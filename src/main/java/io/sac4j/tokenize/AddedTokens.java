package io.sac4j.tokenize;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Added tokens (specials such as "&lt;|begin_of_text|&gt;" and user-defined ones) found in text before any
 * normalization or pre-tokenization, as the Hugging Face tokenizers do: scanning left to right, the longest token
 * that starts at a position wins.
 */
final class AddedTokens {

    record Token(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean normalized) {}

    /** A piece of the input: plain text ({@code token == null}) or one added token. */
    record Segment(String text, Token token) {}

    private final Map<Character, Token[]> byFirstChar = new HashMap<>();

    /** Matches {@code tokens} by {@code keyOf} (their content, or its normalized form). */
    AddedTokens(List<Token> tokens, java.util.function.Function<Token, String> keyOf) {
        Map<Character, List<Token>> m = new HashMap<>();
        for (Token t : tokens) {
            String k = keyOf.apply(t);
            if (k.isEmpty()) continue;
            m.computeIfAbsent(k.charAt(0), c -> new ArrayList<>()).add(t);
        }
        for (var e : m.entrySet()) {
            Token[] arr = e.getValue().stream()
                    .map(t -> new Token(t.id(), keyOf.apply(t), t.special(), t.lstrip(), t.rstrip(), t.normalized()))
                    .toArray(Token[]::new);
            // longest first, so the first hit at a position is the longest match
            Arrays.sort(arr, Comparator.comparingInt((Token t) -> t.content().length()).reversed());
            byFirstChar.put(e.getKey(), arr);
        }
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    /** Splits {@code text} into plain segments and matched tokens, honouring lstrip/rstrip on the neighbours. */
    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (byFirstChar.isEmpty()) {
            out.add(new Segment(text, null));
            return out;
        }
        int start = 0;
        int i = 0;
        int n = text.length();
        while (i < n) {
            Token[] cands = byFirstChar.get(text.charAt(i));
            Token hit = null;
            if (cands != null) {
                for (Token t : cands) {
                    if (text.startsWith(t.content(), i)) {
                        hit = t;
                        break;
                    }
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            if (i > start) out.add(new Segment(text.substring(start, i), null));
            out.add(new Segment(hit.content(), hit));
            i += hit.content().length();
            start = i;
        }
        if (start < n) out.add(new Segment(text.substring(start), null));
        // lstrip/rstrip: the token swallows the whitespace on that side
        for (int k = 0; k < out.size(); k++) {
            Token t = out.get(k).token();
            if (t == null) continue;
            if (t.lstrip() && k > 0 && out.get(k - 1).token() == null) {
                out.set(k - 1, new Segment(stripEnd(out.get(k - 1).text()), null));
            }
            if (t.rstrip() && k + 1 < out.size() && out.get(k + 1).token() == null) {
                out.set(k + 1, new Segment(stripStart(out.get(k + 1).text()), null));
            }
        }
        return out;
    }

    private static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp);
    }

    private static String stripEnd(String s) {
        int e = s.length();
        while (e > 0) {
            int cp = s.codePointBefore(e);
            if (!isSpace(cp)) break;
            e -= Character.charCount(cp);
        }
        return s.substring(0, e);
    }

    private static String stripStart(String s) {
        int b = 0;
        while (b < s.length()) {
            int cp = s.codePointAt(b);
            if (!isSpace(cp)) break;
            b += Character.charCount(cp);
        }
        return s.substring(b);
    }
}
