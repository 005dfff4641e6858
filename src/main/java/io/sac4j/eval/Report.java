package io.sac4j.eval;

import io.sac4j.load.JsonOut;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Averages of the per-question metrics, as the paper reports them: per dataset, then the macro average (the plain
 * mean of the per-dataset numbers, every dataset weighing the same). All averages are percentages (0..100), like
 * the paper's tables and the official SQuAD script; per-question values stay in 0..1.
 */
public final class Report {
    private Report() {
    }

    /** Averages over {@code n} questions, in percent. For the macro row, {@code dataset} is "macro", n the total. */
    public record Averages(String dataset, long n, double f1, double em, double squadF1, double squadEm) {
    }

    /** One evaluation configuration: per-dataset averages in first-seen order, and their macro average. */
    public record Summary(List<Averages> datasets, Averages macro) {
        public Summary {
            datasets = List.copyOf(datasets);
        }
    }

    /** A (method, ratio) row of the summary table. */
    public record Row(String method, String ratio, Summary summary) {
    }

    /** Sums of the per-question metrics of one run, by dataset. */
    public static final class Accumulator {
        private final Map<String, double[]> sums = new LinkedHashMap<>(); // n, f1, em, squadF1, squadEm

        /** Scores one prediction ({@code answers} must not be empty) and adds it. */
        public Metrics.Scores add(String dataset, String prediction, List<String> answers) {
            Metrics.Scores s = Metrics.score(prediction, answers);
            add(dataset, s);
            return s;
        }

        public void add(String dataset, Metrics.Scores s) {
            double[] t = sums.computeIfAbsent(Objects.requireNonNull(dataset, "dataset"), k -> new double[5]);
            t[0]++;
            t[1] += s.f1();
            t[2] += s.em();
            t[3] += s.squadF1();
            t[4] += s.squadEm();
        }

        public boolean isEmpty() {
            return sums.isEmpty();
        }

        public Summary summary() {
            List<Averages> per = new ArrayList<>();
            double[] macro = new double[4];
            long total = 0;
            for (Map.Entry<String, double[]> e : sums.entrySet()) {
                double[] t = e.getValue();
                Averages a = new Averages(e.getKey(), (long) t[0], 100.0 * t[1] / t[0], 100.0 * t[2] / t[0],
                        100.0 * t[3] / t[0], 100.0 * t[4] / t[0]);
                per.add(a);
                macro[0] += a.f1();
                macro[1] += a.em();
                macro[2] += a.squadF1();
                macro[3] += a.squadEm();
                total += a.n();
            }
            int k = per.size();
            Averages m = k == 0 ? new Averages("macro", 0, 0, 0, 0, 0)
                    : new Averages("macro", total, macro[0] / k, macro[1] / k, macro[2] / k, macro[3] / k);
            return new Summary(per, m);
        }
    }

    /**
     * Groups records by (method, ratio) in first-seen order and averages each group. A question repeated under the
     * same (method, ratio) counts once, first record wins (a resumed run should never repeat one, but a hand-merged
     * file might).
     */
    public static List<Row> rows(Iterable<ResultLog.Record> records) {
        Map<List<String>, Accumulator> groups = new LinkedHashMap<>();
        Set<ResultLog.Key> seen = new HashSet<>();
        for (ResultLog.Record r : records) {
            if (!seen.add(r.key())) continue;
            groups.computeIfAbsent(List.of(r.method(), r.ratio()), k -> new Accumulator()).add(r.dataset(), r.scores());
        }
        List<Row> out = new ArrayList<>();
        for (Map.Entry<List<String>, Accumulator> e : groups.entrySet()) {
            out.add(new Row(e.getKey().get(0), e.getKey().get(1), e.getValue().summary()));
        }
        return out;
    }

    /**
     * A fixed-width table, one line per row: method, ratio, then the paper's F1 and EM for every dataset (datasets in
     * first-seen order across rows, "-" where a row has none), the macro averages of the paper's F1/EM, the macro
     * official SQuAD F1/EM, and the question count. Two decimals, as in the paper.
     */
    public static String table(List<Row> rows) {
        Set<String> names = new LinkedHashSet<>();
        for (Row r : rows) for (Averages a : r.summary().datasets()) names.add(a.dataset());
        List<String> header = new ArrayList<>(List.of("method", "ratio"));
        for (String d : names) {
            header.add(d + " F1");
            header.add(d + " EM");
        }
        header.addAll(List.of("macro F1", "macro EM", "official F1", "official EM", "n"));
        List<List<String>> cells = new ArrayList<>();
        for (Row r : rows) {
            List<String> c = new ArrayList<>(List.of(r.method(), r.ratio()));
            Map<String, Averages> by = new LinkedHashMap<>();
            for (Averages a : r.summary().datasets()) by.put(a.dataset(), a);
            for (String d : names) {
                Averages a = by.get(d);
                c.add(a == null ? "-" : fmt(a.f1()));
                c.add(a == null ? "-" : fmt(a.em()));
            }
            Averages m = r.summary().macro();
            c.addAll(List.of(fmt(m.f1()), fmt(m.em()), fmt(m.squadF1()), fmt(m.squadEm()), Long.toString(m.n())));
            cells.add(c);
        }
        int[] w = new int[header.size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = header.get(i).length();
            for (List<String> c : cells) w[i] = Math.max(w[i], c.get(i).length());
        }
        StringBuilder b = new StringBuilder();
        line(b, header, w);
        for (List<String> c : cells) line(b, c, w);
        return b.toString();
    }

    private static void line(StringBuilder b, List<String> cells, int[] w) {
        StringBuilder l = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            if (i > 0) l.append("  ");
            String s = cells.get(i);
            String pad = " ".repeat(w[i] - s.length());
            if (i < 2) l.append(s).append(pad); // text columns left-aligned, numbers right-aligned
            else l.append(pad).append(s);
        }
        b.append(l.toString().stripTrailing()).append('\n');
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    /**
     * The same rows as JSON: {"rows":[{"method","ratio","datasets":[{"dataset","n","f1","em","squad_f1",
     * "squad_em"}],"macro":{...}}]}, full precision, percentages.
     */
    public static String json(List<Row> rows) {
        List<Object> out = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("method", r.method());
            m.put("ratio", r.ratio());
            List<Object> ds = new ArrayList<>();
            for (Averages a : r.summary().datasets()) ds.add(averages(a));
            m.put("datasets", ds);
            m.put("macro", averages(r.summary().macro()));
            out.add(m);
        }
        return JsonOut.write(Map.of("rows", out));
    }

    private static Map<String, Object> averages(Averages a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dataset", a.dataset());
        m.put("n", a.n());
        m.put("f1", a.f1());
        m.put("em", a.em());
        m.put("squad_f1", a.squadF1());
        m.put("squad_em", a.squadEm());
        return m;
    }
}
