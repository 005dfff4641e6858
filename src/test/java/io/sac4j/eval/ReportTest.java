package io.sac4j.eval;

import io.sac4j.load.Json;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ReportTest {
    // rouge 1.0.1's exact-match F: 2 * (1 / (2 + 1e-8))
    private static final double EXACT = 2.0 * (1.0 / (2.0 + 1e-8));
    // "The Denver Broncos." vs "Denver Broncos": p = 2/3, r = 1 -> 2 * ((2/3) / (2/3 + 1 + 1e-8))
    private static final double BRONCOS = 2.0 * ((2.0 / 3) / (2.0 / 3 + 1 + 1e-8));

    private static ResultLog.Record rec(String method, String ratio, String dataset, String qid, String pred,
                                        String... answers) {
        return ResultLog.Record.of(method, ratio, dataset, qid, pred, List.of(answers), null);
    }

    @Test
    void perDatasetAndMacroAverages() {
        Report.Accumulator acc = new Report.Accumulator();
        // dataset A: one exact answer (paper F1 EXACT, EM 1; SQuAD 1/1) and one wrong one (all 0)
        acc.add("A", "Paris", List.of("Paris"));
        acc.add("A", "London", List.of("Paris"));
        // dataset B: paper F1 BRONCOS, EM 0; SQuAD normalises the article and the dot away: F1 1, EM 1
        Metrics.Scores b = acc.add("B", "The Denver Broncos.", List.of("Denver Broncos"));
        assertEquals(new Metrics.Scores(BRONCOS, 0, 1, 1), b);

        Report.Summary s = acc.summary();
        assertEquals(2, s.datasets().size());
        Report.Averages a = s.datasets().get(0);
        assertEquals("A", a.dataset());
        assertEquals(2, a.n());
        assertEquals(100 * EXACT / 2, a.f1(), 1e-12);   // 49.99999975
        assertEquals(50.0, a.em(), 0);
        assertEquals(50.0, a.squadF1(), 0);
        assertEquals(50.0, a.squadEm(), 0);
        Report.Averages m = s.macro();
        assertEquals("macro", m.dataset());
        assertEquals(3, m.n());
        // macro = plain mean of the two datasets, not of the three questions
        assertEquals((100 * EXACT / 2 + 100 * BRONCOS) / 2, m.f1(), 1e-12);  // (49.99999975 + 79.99999952) / 2
        assertEquals((50.0 + 0.0) / 2, m.em(), 0);
        assertEquals((50.0 + 100.0) / 2, m.squadF1(), 0);
        assertEquals((50.0 + 100.0) / 2, m.squadEm(), 0);

        assertEquals(0, new Report.Accumulator().summary().macro().n());
    }

    @Test
    void rowsGroupByMethodAndRatioAndCountEachQuestionOnce() {
        List<ResultLog.Record> records = List.of(
                rec("sac", "5x", "A", "q1", "Paris", "Paris"),
                rec("sac", "15x", "A", "q1", "London", "Paris"),
                rec("sac", "5x", "A", "q2", "London", "Paris"),
                rec("sac", "5x", "A", "q1", "London", "Paris"), // repeat of (sac, 5x, q1): ignored
                rec("icae", "5x", "B", "q9", "x", "x"));
        List<Report.Row> rows = Report.rows(records);
        assertEquals(3, rows.size());
        assertEquals(List.of("sac/5x", "sac/15x", "icae/5x"),
                rows.stream().map(r -> r.method() + "/" + r.ratio()).toList());
        Report.Averages sac5 = rows.get(0).summary().macro();
        assertEquals(2, sac5.n());
        assertEquals(50.0, sac5.em(), 0, "first record of q1 (exact) wins over its repeat");
        assertEquals(0.0, rows.get(1).summary().macro().em(), 0);
    }

    @Test
    void tableIsFixedWidthWithTwoDecimals() {
        List<Report.Row> rows = Report.rows(List.of(
                rec("sac", "5x", "SQuAD", "q1", "Paris", "Paris"),
                rec("sac", "5x", "NewsQA", "q2", "The Denver Broncos.", "Denver Broncos"),
                rec("full-context", "1x", "SQuAD", "q1", "London", "Paris")));
        String table = Report.table(rows);
        List<String> lines = table.lines().toList();
        assertEquals(3, lines.size(), table);
        assertTrue(lines.get(0).matches("method +ratio +SQuAD F1 +SQuAD EM +NewsQA F1 +NewsQA EM +macro F1 +macro EM"
                + " +official F1 +official EM +n"), lines.get(0));
        int width = lines.get(0).length();
        for (String l : lines) assertEquals(width, l.length(), "every line as wide as the header:\n" + table);
        // row 1: SQuAD F1 = 100 * EXACT = 99.9999995 -> "100.00"; NewsQA F1 = 100 * BRONCOS -> "80.00";
        // macro F1 = (99.9999995 + 79.999999520) / 2 -> "90.00"; macro EM (100 + 0) / 2 = "50.00";
        // official macro F1 (100 + 100) / 2, EM (100 + 100) / 2; n = 2
        assertTrue(lines.get(1).matches("sac +5x +100\\.00 +100\\.00 +80\\.00 +0\\.00 +90\\.00 +50\\.00"
                + " +100\\.00 +100\\.00 +2"), lines.get(1));
        // a row without a dataset shows "-"
        assertTrue(lines.get(2).matches("full-context +1x +0\\.00 +0\\.00 +- +- +0\\.00 +0\\.00 +0\\.00 +0\\.00 +1"),
                lines.get(2));
        // numbers are right-aligned under their header
        int col = lines.get(0).indexOf("macro F1") + "macro F1".length();
        assertEquals(col, lines.get(1).indexOf("90.00") + "90.00".length());
    }

    @Test
    void jsonFormCarriesFullPrecision() {
        List<Report.Row> rows = Report.rows(List.of(
                rec("sac", "5x", "SQuAD", "q1", "Paris", "Paris"),
                rec("sac", "5x", "SQuAD", "q2", "The Denver Broncos.", "Denver Broncos")));
        Map<String, Object> doc = Json.parseObject(Report.json(rows), "report");
        List<?> rs = (List<?>) doc.get("rows");
        assertEquals(1, rs.size());
        Map<?, ?> r = (Map<?, ?>) rs.get(0);
        assertEquals("sac", r.get("method"));
        assertEquals("5x", r.get("ratio"));
        Map<?, ?> d = (Map<?, ?>) ((List<?>) r.get("datasets")).get(0);
        assertEquals("SQuAD", d.get("dataset"));
        assertEquals(2L, d.get("n"));
        assertEquals(100 * (EXACT + BRONCOS) / 2, ((Number) d.get("f1")).doubleValue(), 0);
        assertEquals(50.0, ((Number) d.get("em")).doubleValue(), 0);
        assertEquals(100.0, ((Number) d.get("squad_em")).doubleValue(), 0);
        Map<?, ?> m = (Map<?, ?>) r.get("macro");
        assertEquals("macro", m.get("dataset"));
        assertEquals(d.get("f1"), m.get("f1"), "one dataset: macro = that dataset");
    }
}
