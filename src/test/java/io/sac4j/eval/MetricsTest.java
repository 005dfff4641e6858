package io.sac4j.eval;

import io.sac4j.load.Json;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class MetricsTest {
    private static final double TOL = 1e-9;

    /** Every case of scripts/eval/reference_metrics.py: Java must give what Python (rouge 1.0.1, SQuAD v1.1) gave. */
    @Test
    void everyReferenceCaseMatchesPython() throws IOException {
        List<String> lines = Files.readAllLines(EvalFixtures.fixture("metrics_cases.jsonl"));
        assertTrue(lines.size() >= 150, "expected about 150+ reference cases, got " + lines.size());
        List<String> failures = new ArrayList<>();
        int rougeRaised = 0;
        for (String line : lines) {
            Map<String, Object> c = Json.parseObject(line, "metrics_cases.jsonl");
            String id = (String) c.get("id");
            String pred = (String) c.get("prediction");
            List<String> answers = strings(c.get("answers"));
            check(failures, id, "paper_f1", num(c, "paper_f1"), Metrics.paperF1(pred, answers.get(0)));
            check(failures, id, "paper_em", num(c, "paper_em"), Metrics.paperEm(pred, answers.get(0)));
            check(failures, id, "squad_f1", num(c, "squad_f1"), Metrics.squadF1(pred, answers));
            check(failures, id, "squad_em", num(c, "squad_em"), Metrics.squadEm(pred, answers));
            Metrics.Scores s = Metrics.score(pred, answers);
            check(failures, id, "score.f1", num(c, "paper_f1"), s.f1());
            check(failures, id, "score.squadF1", num(c, "squad_f1"), s.squadF1());
            if (!c.get("norm_prediction").equals(Metrics.squadNormalize(pred))) {
                failures.add(id + " normalize: python " + esc(c.get("norm_prediction")) + " java "
                        + esc(Metrics.squadNormalize(pred)));
            }
            if (!c.get("lower_prediction").equals(PyStr.lower(pred))) {
                failures.add(id + " lower: python " + esc(c.get("lower_prediction")) + " java " + esc(PyStr.lower(pred)));
            }
            if (!strings(c.get("split_prediction")).equals(PyStr.split(pred))) {
                failures.add(id + " split: python " + c.get("split_prediction") + " java " + PyStr.split(pred));
            }
            if (c.get("rouge_error") != null) {
                rougeRaised++;
                if (Metrics.rougeTokens(pred) != null && Metrics.rougeTokens(answers.get(0)) != null) {
                    failures.add(id + ": rouge raised " + c.get("rouge_error") + " but Java found tokens");
                }
            }
        }
        assertEquals(List.of(), failures);
        assertTrue(rougeRaised >= 5, "the fixture should exercise rouge's ValueError paths");
    }

    private static void check(List<String> failures, String id, String what, double python, double java) {
        if (Math.abs(python - java) > TOL) failures.add(id + " " + what + ": python " + python + " java " + java);
    }

    private static double num(Map<String, Object> c, String k) {
        return ((Number) c.get(k)).doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static List<String> strings(Object o) {
        return (List<String>) o;
    }

    private static String esc(Object s) {
        StringBuilder b = new StringBuilder("\"");
        ((String) s).codePoints().forEach(cp -> b.append(cp < 0x7f && cp >= 0x20 ? Character.toString(cp)
                : String.format("\\u%04x", cp)));
        return b.append('"').toString();
    }

    // ---------------------------------------------------------------- hand-checked

    @Test
    void paperF1ByHand() {
        // "The Denver Broncos." -> pieces "The Denver Broncos" and "" (dropped): H = {The, Denver, Broncos};
        // R = {Denver, Broncos}; overlap 2, p = 2/3, r = 1, f = 2 * ((2/3 * 1) / (2/3 + 1 + 1e-8)) = 0.7999999952
        assertEquals(2.0 * ((2.0 / 3) / (2.0 / 3 + 1 + 1e-8)), Metrics.paperF1("The Denver Broncos.", "Denver Broncos"), 0);
        assertEquals(0.7999999952, Metrics.paperF1("The Denver Broncos.", "Denver Broncos"), 1e-10);
        // exact match: p = r = 1, f = 2 * (1 / (2 + 1e-8)) = 0.999999995, not 1
        assertEquals(0.999999995, Metrics.paperF1("Denver Broncos", "Denver Broncos"), 1e-15);
        // a set, not a multiset: H = {Broncos}, R = {Denver, Broncos}: p = 1, r = 1/2, f = 2 * (0.5 / 1.5) = 2/3
        assertEquals(2.0 * (0.5 / (1.5 + 1e-8)), Metrics.paperF1("Broncos Broncos Broncos", "Denver Broncos"), 0);
        // case- and punctuation-sensitive: "broncos" and "Broncos," share nothing with "Broncos"
        assertEquals(0.0, Metrics.paperF1("broncos", "Broncos"));
        assertEquals(0.0, Metrics.paperF1("Broncos,", "Broncos"));
        // "Paris. " -> pieces "Paris", " " -> tokens {Paris, ""}: p = 1/2, r = 1 -> f = 2 * (0.5 / (1.5 + 1e-8))
        assertEquals(2.0 * (0.5 / (1.5 + 1e-8)), Metrics.paperF1("Paris. ", "Paris"), 0);
        // rouge raises on an empty hypothesis or reference (also "..."): reported as 0
        assertEquals(0.0, Metrics.paperF1("", "Paris"));
        assertEquals(0.0, Metrics.paperF1("...", "Paris"));
        assertEquals(0.0, Metrics.paperF1("Paris", ""));
        // EM is plain string equality: "" == "" is a match even though F1 is 0
        assertEquals(1.0, Metrics.paperEm("", ""));
        assertEquals(0.0, Metrics.paperEm("Paris ", "Paris"));
    }

    @Test
    void squadByHand() {
        // normalize: "the the the cat" -> "cat"; gold "cat cat" -> [cat, cat]; common 1: p = 1, r = 1/2,
        // F1 = 2 * 1 * 0.5 / 1.5 = 2/3
        assertEquals(2.0 / 3, Metrics.squadF1("the the the cat", "cat cat"), TOL);
        // multiset: [x, y, x, y] vs [x, y, z, x]: common x:2 + y:1 = 3; p = r = 3/4; F1 = 0.75
        assertEquals(0.75, Metrics.squadF1("x y x y", "x y z x"), 0);
        // punctuation goes before articles: "A-team" -> "ateam", which is not "team"
        assertEquals(0.0, Metrics.squadEm("A-team", "team"));
        // "$5 million" -> "5 million"
        assertEquals(1.0, Metrics.squadEm("$5 million", "5 million"));
        // max over golds: "Broncos" vs "Denver Broncos" (p 1, r 1/2: 2/3) and vs "Broncos" (1)
        assertEquals(1.0, Metrics.squadF1("Broncos", List.of("Denver Broncos", "Broncos")));
        assertEquals(2.0 / 3, Metrics.squadF1("Broncos", List.of("Denver Broncos")), TOL);
        // empty prediction: no common token -> 0, but "" vs "the" is an exact match (both normalise to "")
        assertEquals(0.0, Metrics.squadF1("", "Paris"));
        assertEquals(1.0, Metrics.squadEm("", List.of("Paris", "the")));
        // re's \b does not treat a combining mark as a word character: "the" + U+0301 loses its "the"
        assertEquals("\u0301 end", Metrics.squadNormalize("The\u0301 end"));
        // ...while a precomposed letter is one: "thé" stays
        assertEquals("thé end", Metrics.squadNormalize("Thé end"));
        // NBSP is whitespace for Python's split()
        assertEquals("new york", Metrics.squadNormalize("New\u00a0York"));
    }

    @Test
    void pythonLowerDiffersFromJavaOnlyInTheSigmaContext() {
        // Python: the sigma after "A1" is not final (a digit is neither cased nor case-ignorable); Java's
        // word-boundary rule makes it final. After a cased letter and before a digit both say final.
        assertEquals("a1\u03c3", PyStr.lower("A1\u03a3"));
        assertEquals("a1\u03c2", "A1\u03a3".toLowerCase(Locale.ROOT));
        assertEquals("a\u03c21b", PyStr.lower("A\u03a31B"));
        assertEquals("i\u0307stanbul", PyStr.lower("\u0130stanbul"));
    }

    @Test
    void scoringWithoutAnswersIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Metrics.score("x", List.of()));
        assertThrows(IllegalArgumentException.class, () -> Metrics.squadF1("x", List.of()));
    }
}
