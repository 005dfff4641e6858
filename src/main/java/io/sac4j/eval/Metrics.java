package io.sac4j.eval;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Answer metrics, each a value in [0, 1] for one question, matching the Python references to the last bit
 * (scripts/eval/reference_metrics.py writes the cases MetricsTest checks).
 *
 * <h2>The paper's metrics (what the SAC tables report)</h2>
 * SAC's evaluator (lx-Meteors/SAC sft/instruction_evaluator.py) scores a generated answer against {@code answers[0]}
 * only: F1 = the rouge-1 "f" of {@code rouge.Rouge().get_scores(prediction, answers[0])} (pltrdy/rouge 1.0.1,
 * default settings), 0.0 when that call raises; EM = {@code prediction == answers[0]}, no normalisation at all.
 * What rouge 1.0.1 really computes (read from its source; note it does NOT lowercase or drop punctuation, whatever
 * its README or other descriptions suggest):
 * <ol>
 * <li>split the text on "." into sentences and drop the empty pieces; whitespace-normalise each piece
 *     ({@code " ".join(piece.split())}, Python whitespace);</li>
 * <li>tokens = every piece's {@code split(" ")}: case- and punctuation-sensitive ("Paris," is not "paris"), and a
 *     whitespace-only piece gives one empty token "" (so "Paris. " has the tokens "Paris" and "");</li>
 * <li>unigrams are a SET (exclusive=True): repeats count once on both sides;</li>
 * <li>p = |H&#8745;R|/|H|, r = |H&#8745;R|/|R|, f = 2 * ((p * r) / (p + r + 1e-8)), so an exact match scores
 *     0.999999995, not 1;</li>
 * <li>no piece left (the text is empty or only dots) raises ValueError("Hypothesis is empty." / "Reference is
 *     empty."): SAC's evaluator catches it and records 0.0, and so do we.</li>
 * </ol>
 *
 * <h2>The official SQuAD v1.1 metrics</h2>
 * evaluate-v1.1.py: normalize_answer = lower(), drop the 32 ASCII characters of {@code string.punctuation}, replace
 * the whole words a/an/the (re {@code \b}: Python word characters, see {@link PyStr}) by a space, collapse
 * whitespace; F1 over the token multiset overlap (0 when nothing overlaps, including empty predictions); EM =
 * normalised strings equal; both maxed over all gold answers. The Python string semantics (lower() with its final
 * sigma rule, split() whitespace, \w) are reproduced in {@link PyStr}.
 */
public final class Metrics {
    /** Python's string.punctuation. */
    static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    private Metrics() {
    }

    /** The four numbers for one answered question: paper F1/EM against answers[0], official SQuAD F1/EM (max). */
    public record Scores(double f1, double em, double squadF1, double squadEm) {
    }

    /** All four metrics; {@code answers} must not be empty (the paper's metrics need answers[0]). */
    public static Scores score(String prediction, List<String> answers) {
        String first = first(answers);
        return new Scores(paperF1(prediction, first), paperEm(prediction, first),
                squadF1(prediction, answers), squadEm(prediction, answers));
    }

    // ------------------------------------------------------------------ paper (rouge 1.0.1 / exact string)

    /** rouge 1.0.1 ROUGE-1 F of {@code prediction} against {@code reference}; 0 where rouge raises ValueError. */
    public static double paperF1(String prediction, String reference) {
        List<String> h = rougeTokens(prediction);
        List<String> r = rougeTokens(reference);
        if (h == null || r == null) return 0.0; // rouge: "Hypothesis is empty." / "Reference is empty."
        Set<String> hs = new HashSet<>(h);
        Set<String> rs = new HashSet<>(r);
        int overlap = 0;
        for (String t : hs) if (rs.contains(t)) overlap++;
        double p = hs.isEmpty() ? 0.0 : (double) overlap / hs.size();
        double rc = rs.isEmpty() ? 0.0 : (double) overlap / rs.size();
        return 2.0 * ((p * rc) / (p + rc + 1e-8)); // rouge's epsilon, kept for bit-identical scores
    }

    /** Exact string equality, as SAC's evaluator does it: 1 or 0. */
    public static double paperEm(String prediction, String reference) {
        return prediction.equals(reference) ? 1.0 : 0.0;
    }

    /** rouge 1.0.1's unigram tokens, or null where it raises (no non-empty "."-separated piece). */
    static List<String> rougeTokens(String text) {
        List<String> tokens = new ArrayList<>();
        boolean any = false;
        int start = 0;
        for (int i = 0; i <= text.length(); i++) {
            if (i < text.length() && text.charAt(i) != '.') continue;
            if (i > start) {
                any = true;
                List<String> words = PyStr.split(text, start, i);
                if (words.isEmpty()) tokens.add(""); // "".split(" ") == [""]
                else tokens.addAll(words);
            }
            start = i + 1;
        }
        return any ? tokens : null;
    }

    // ------------------------------------------------------------------ official SQuAD v1.1

    /** evaluate-v1.1.py normalize_answer. */
    public static String squadNormalize(String s) {
        String lower = PyStr.lower(s);
        StringBuilder noPunct = new StringBuilder(lower.length());
        for (int i = 0; i < lower.length(); i++) {
            char c = lower.charAt(i);
            if (PUNCTUATION.indexOf(c) < 0) noPunct.append(c);
        }
        String noArticles = removeArticles(noPunct.toString());
        return String.join(" ", PyStr.split(noArticles));
    }

    /**
     * re.sub(r'\b(a|an|the)\b', ' ', text): both ends must be word boundaries and the article is made of word
     * characters, so a match is exactly a maximal run of word characters equal to a, an or the.
     */
    private static String removeArticles(String t) {
        StringBuilder b = new StringBuilder(t.length());
        int i = 0;
        while (i < t.length()) {
            int cp = t.codePointAt(i);
            if (!PyStr.isWord(cp)) {
                b.appendCodePoint(cp);
                i += Character.charCount(cp);
                continue;
            }
            int j = i;
            while (j < t.length()) {
                int c = t.codePointAt(j);
                if (!PyStr.isWord(c)) break;
                j += Character.charCount(c);
            }
            int len = j - i;
            boolean article = (len == 1 && t.charAt(i) == 'a')
                    || (len == 2 && t.startsWith("an", i))
                    || (len == 3 && t.startsWith("the", i));
            if (article) b.append(' ');
            else b.append(t, i, j);
            i = j;
        }
        return b.toString();
    }

    /** evaluate-v1.1.py f1_score against one gold answer. */
    public static double squadF1(String prediction, String groundTruth) {
        List<String> p = PyStr.split(squadNormalize(prediction));
        List<String> g = PyStr.split(squadNormalize(groundTruth));
        Map<String, Integer> counts = new HashMap<>();
        for (String t : g) counts.merge(t, 1, Integer::sum);
        int same = 0;
        for (String t : p) {
            Integer c = counts.get(t);
            if (c != null && c > 0) {
                same++;
                counts.put(t, c - 1);
            }
        }
        if (same == 0) return 0.0;
        double precision = 1.0 * same / p.size();
        double recall = 1.0 * same / g.size();
        return (2 * precision * recall) / (precision + recall);
    }

    /** evaluate-v1.1.py exact_match_score against one gold answer: 1 or 0. */
    public static double squadEm(String prediction, String groundTruth) {
        return squadNormalize(prediction).equals(squadNormalize(groundTruth)) ? 1.0 : 0.0;
    }

    /** metric_max_over_ground_truths(f1_score, ...); {@code answers} must not be empty. */
    public static double squadF1(String prediction, List<String> answers) {
        first(answers);
        double best = 0.0;
        for (String a : answers) best = Math.max(best, squadF1(prediction, a));
        return best;
    }

    /** metric_max_over_ground_truths(exact_match_score, ...); {@code answers} must not be empty. */
    public static double squadEm(String prediction, List<String> answers) {
        first(answers);
        String p = squadNormalize(prediction);
        for (String a : answers) {
            if (p.equals(squadNormalize(a))) return 1.0;
        }
        return 0.0;
    }

    private static String first(List<String> answers) {
        // Python's max() of an empty list raises; a question without answers cannot be scored at all
        if (answers.isEmpty()) throw new IllegalArgumentException("no gold answers to score against");
        return answers.get(0);
    }
}
