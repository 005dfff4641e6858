package io.sac4j.cli;

import io.sac4j.eval.Metrics;
import io.sac4j.eval.ResultLog;
import io.sac4j.load.Json;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * sac eval end to end on the bundled model (which cannot answer questions: this tests the pipeline, the bookkeeping
 * and the resume logic, not SAC's quality), with small limits and short answers to keep it quick.
 */
class EvalCommandTest {
    private static final Path ADAPTERS = Path.of("src/test/resources/fixtures/sac/adapters");

    private static Path fixture(String name) {
        try {
            return Path.of(EvalCommandTest.class.getResource("/fixtures/eval/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing test fixture fixtures/eval/" + name, e);
        }
    }

    /** The SQuAD v1.1 dev file: -Dsac.squad, else shared/data next to the repository (CI), else /work/shared/data. */
    private static Path squadDev() {
        List<Path> candidates = new ArrayList<>();
        if (System.getProperty("sac.squad") != null) candidates.add(Path.of(System.getProperty("sac.squad")));
        Path dir = Path.of("").toAbsolutePath();
        for (int up = 0; dir != null && up < 3; up++, dir = dir.getParent()) {
            candidates.add(dir.resolve("shared/data/squad-dev-v1.1.json"));
        }
        candidates.add(Path.of("/work/shared/data/squad-dev-v1.1.json"));
        for (Path p : candidates) if (Files.isRegularFile(p)) return p;
        Assumptions.abort("SQuAD v1.1 dev file not found (looked at " + candidates + ")");
        return null;
    }

    private static List<String> lines(Path p) throws Exception {
        return Files.readAllLines(p, StandardCharsets.UTF_8);
    }

    /** The table's rows (label lines starting with '#' left out). */
    private static List<String> table(String out) {
        return out.lines().filter(l -> !l.startsWith("#")).toList();
    }

    private static String row(String out, String method, String ratio) {
        for (String l : table(out)) if (l.matches(method + "\\s+" + ratio + "\\s.*")) return l;
        fail("no row " + method + " " + ratio + " in\n" + out);
        return null;
    }

    @Test
    void squadDevTableResultsAndJson(@TempDir Path dir) throws Exception {
        Path squad = squadDev(), results = dir.resolve("r.jsonl"), json = dir.resolve("summary.json");
        var r = CliRunner.run("eval", "--device", "cpu", "--data", squad.toString(), "--limit", "5", "--ratio", "5,15",
                "--baseline", "full,first", "-n", "3", "--results", results.toString(), "--json", json.toString());
        assertEquals(0, r.exit(), r.err());
        // honest labels above the table
        assertTrue(r.out().contains("# model: aidreams260K (bundled)"), r.out());
        assertTrue(r.out().contains("# adapter: none (sac-free = training-free SAC"), r.out());
        assertTrue(r.out().contains("# note: the bundled model cannot answer questions"), r.out());
        List<String> t = table(r.out());
        assertEquals(List.of("method", "ratio", "SQuAD", "F1", "SQuAD", "EM", "macro", "F1", "macro", "EM", "official", "F1",
                "official", "EM", "n"), List.of(t.get(0).split("\\s+")));
        assertEquals(6, t.size(), r.out());
        for (String[] mr : new String[][]{{"sac-free", "5x"}, {"sac-free", "15x"}, {"full", "1x"}, {"first", "5x"}, {"first", "15x"}})
            assertTrue(row(r.out(), mr[0], mr[1]).endsWith(" 5"), "5 questions per row");

        // one line per (method, ratio, question), scored as Metrics scores it
        List<ResultLog.Record> recs = ResultLog.read(results);
        assertEquals(25, recs.size());
        assertEquals(25, new HashSet<>(recs.stream().map(ResultLog.Record::key).toList()).size());
        for (ResultLog.Record rec : recs) {
            assertEquals("SQuAD", rec.dataset());
            assertEquals(Metrics.score(rec.prediction(), rec.answers()), rec.scores());
            assertTrue(((Number) rec.extra().get("answer_tokens")).intValue() <= 3);
            int n = ((Number) rec.extra().get("context_tokens")).intValue(), rows = ((Number) rec.extra().get("rows")).intValue();
            switch (rec.method() + " " + rec.ratio()) {
                case "full 1x" -> assertEquals(n, rows);
                case "sac-free 5x", "first 5x" -> assertEquals(io.sac4j.compress.Anchors.count(n, 5), rows);
                case "sac-free 15x", "first 15x" -> assertEquals(io.sac4j.compress.Anchors.count(n, 15), rows);
                default -> fail(rec.method() + " " + rec.ratio());
            }
        }
        // the first SQuAD question (Super Bowl 50) with its three gold answers
        assertEquals(List.of("Denver Broncos", "Denver Broncos", "Denver Broncos"), recs.get(0).answers());

        Map<String, Object> doc = Json.parseObject(Files.readString(json), json.toString());
        assertEquals(5L, doc.get("limit"));
        assertEquals(3L, doc.get("max_tokens"));
        List<?> rows = (List<?>) doc.get("rows");
        assertEquals(5, rows.size());
        Map<?, ?> macro = (Map<?, ?>) ((Map<?, ?>) rows.get(0)).get("macro");
        assertEquals(5L, macro.get("n"));
        assertTrue(((List<?>) doc.get("labels")).stream().anyMatch(l -> l.toString().startsWith("model: aidreams260K")));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary file is left");
        }
    }

    /** A copy of the MRQA fixture under another dataset name and other question ids: a second dataset. */
    private static Path renamed(Path dir, String dataset) throws Exception {
        List<String> out = new ArrayList<>();
        for (String l : lines(fixture("squad_sample.jsonl"))) {
            out.add(l.replace("\"dataset\": \"SQuAD\"", "\"dataset\": \"" + dataset + "\"")
                    .replaceAll("\"qid\": \"", "\"qid\": \"" + dataset + "-"));
        }
        return Files.write(dir.resolve(dataset + ".jsonl"), out);
    }

    @Test
    void mrqaFilesArePerDatasetWithAMacroAverage(@TempDir Path dir) throws Exception {
        // a random untied model with a byte-level tokenizer: unlike the bundled one it does not answer with blank lines
        Path model = Path.of("src/test/resources/fixtures/models/llama-gqa-untied");
        Path other = renamed(dir, "Other"), json = dir.resolve("s.json"), results = dir.resolve("r.jsonl");
        var r = CliRunner.run("eval", "--device", "cpu", "--model", model.toString(), "--data",
                fixture("squad_sample.jsonl.gz").toString(), "--data", other.toString(), "--limit", "4", "--ratio", "51",
                "-n", "4", "--json", json.toString(), "--results", results.toString(), "--quiet");
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.err(), "--quiet prints nothing on stderr");
        assertTrue(r.out().startsWith("# model: " + model + " (llama: dim 64"), r.out());
        List<ResultLog.Record> recs = ResultLog.read(results);
        assertEquals(8, recs.size());
        assertTrue(recs.stream().anyMatch(x -> !x.prediction().isEmpty()), "some answer is not blank");
        for (ResultLog.Record x : recs) {
            assertEquals(x.prediction(), x.prediction().strip());
            assertEquals(Metrics.score(x.prediction(), x.answers()), x.scores());
        }
        assertEquals("method ratio SQuAD F1 SQuAD EM Other F1 Other EM macro F1 macro EM official F1 official EM n",
                table(r.out()).get(0).replaceAll("\\s+", " "));
        assertTrue(row(r.out(), "sac-free", "51x").endsWith(" 8"));
        Map<?, ?> row = (Map<?, ?>) ((List<?>) Json.parseObject(Files.readString(json), "s").get("rows")).get(0);
        List<?> ds = (List<?>) row.get("datasets");
        assertEquals(2, ds.size());
        Map<?, ?> a = (Map<?, ?>) ds.get(0), b = (Map<?, ?>) ds.get(1), m = (Map<?, ?>) row.get("macro");
        assertEquals("SQuAD", a.get("dataset"));
        assertEquals("Other", b.get("dataset"));
        for (String k : List.of("f1", "em", "squad_f1", "squad_em")) {
            double x = ((Number) a.get(k)).doubleValue(), y = ((Number) b.get(k)).doubleValue();
            assertEquals((x + y) / 2, ((Number) m.get(k)).doubleValue(), 1e-12, k);
        }
        // the same file twice (same question ids) is refused: results are keyed by question id
        var dup = CliRunner.run("eval", "--device", "cpu", "--data", fixture("squad_sample.jsonl.gz").toString(),
                "--data", fixture("squad_sample.jsonl").toString(), "--limit", "1");
        assertEquals(2, dup.exit());
        assertTrue(dup.err().contains("is also in"), dup.err());
    }

    /** Each line's key, prediction and answer length. */
    private static Set<List<Object>> answers(List<String> lines) {
        Set<List<Object>> out = new HashSet<>();
        for (String l : lines) {
            Map<String, Object> m = Json.parseObject(l, "results line");
            out.add(List.of(m.get("method"), m.get("ratio"), m.get("qid"), m.get("prediction"), m.get("answer_tokens")));
        }
        return out;
    }

    @Test
    void resumeAfterATornResultsFileGivesTheSameTotals(@TempDir Path dir) throws Exception {
        String data = fixture("squad_sample.jsonl").toString();
        Path results = dir.resolve("r.jsonl");
        String[] args = {"eval", "--device", "cpu", "--data", data, "--limit", "6", "--ratio", "5", "--baseline", "last",
                "-n", "3", "--results", results.toString(), "--quiet"};
        var first = CliRunner.run(args);
        assertEquals(0, first.exit(), first.err());
        List<String> all = lines(results);
        assertEquals(12, all.size());

        // a run killed in the middle of writing line 6
        String torn = String.join("\n", all.subList(0, 5)) + "\n" + all.get(5).substring(0, all.get(5).length() / 2);
        Files.writeString(results, torn);
        var again = CliRunner.run(args);
        assertEquals(2, again.exit(), "an existing results file needs --resume");
        assertTrue(again.err().contains(results + ": already holds results: pass --resume"), again.err());

        List<String> resumeArgs = new ArrayList<>(List.of(args));
        resumeArgs.add("--resume");
        var resumed = CliRunner.run(resumeArgs.toArray(String[]::new));
        assertEquals(0, resumed.exit(), resumed.err());
        List<String> after = lines(results);
        assertEquals(12, after.size(), "no duplicates, nothing lost");
        Set<ResultLog.Key> keys = new HashSet<>();
        for (ResultLog.Record rec : ResultLog.read(results)) assertTrue(keys.add(rec.key()), "duplicate " + rec.key());
        assertEquals(ResultLog.done(Path.of(results.toString())), keys);
        assertEquals(first.out(), resumed.out(), "same table");
        // greedy answers are deterministic: the re-answered questions match the first run's (timings aside)
        assertEquals(answers(all), answers(after));

        // nothing left to do: the summary still covers the whole file
        var done = CliRunner.run(resumeArgs.toArray(String[]::new));
        assertEquals(0, done.exit(), done.err());
        assertEquals(first.out(), done.out());
        assertEquals(after, lines(results));

        // a different setup cannot continue the same file
        resumeArgs.set(resumeArgs.indexOf("-n") + 1, "4");
        var other = CliRunner.run(resumeArgs.toArray(String[]::new));
        assertEquals(2, other.exit());
        assertTrue(other.err().contains("max_tokens 3, this run uses 4: use another --results file"), other.err());
    }

    @Test
    void adaptersOnePerRatio(@TempDir Path dir) throws Exception {
        Path r5 = ADAPTERS.resolve("aidreams260K-r5.safetensors"), r15 = ADAPTERS.resolve("aidreams260K-r15.safetensors");
        Assumptions.assumeTrue(Files.isRegularFile(r5) && Files.isRegularFile(r15), "no aidreams adapter fixtures");
        String data = fixture("squad_sample.jsonl").toString();
        var r = CliRunner.run("eval", "--device", "cpu", "--data", data, "--limit", "2", "--ratio", "5,15",
                "--adapter", r5.toString(), "--adapter", r15.toString(), "-n", "2");
        assertEquals(0, r.exit(), r.err());
        assertTrue(row(r.out(), "sac", "5x").endsWith(" 2"));
        assertTrue(row(r.out(), "sac", "15x").endsWith(" 2"));
        assertTrue(r.out().contains("# adapter: 5x " + r5 + " ("), r.out());

        var one = CliRunner.run("eval", "--device", "cpu", "--data", data, "--ratio", "5,15", "--adapter", r5.toString());
        assertEquals(2, one.exit());
        assertTrue(one.err().contains("an adapter is trained for one ratio"), one.err());
        var wrong = CliRunner.run("eval", "--device", "cpu", "--data", data, "--ratio", "15", "--adapter", r5.toString());
        assertEquals(2, wrong.exit());
        assertTrue(wrong.err().contains(r5 + ": is not trained for ratio 15"), wrong.err());
    }

    @Test
    void badInputIsAOneLineUsageError(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("missing.json");
        var r = CliRunner.run("eval", "--data", missing.toString());
        assertEquals(2, r.exit());
        assertEquals("sac: error: " + missing + ": no such file\n", r.err());

        Path garbage = Files.writeString(dir.resolve("garbage.json"), "this is not JSON\n");
        r = CliRunner.run("eval", "--data", garbage.toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("sac: error: " + garbage + ": "), r.err());
        assertEquals(1, r.err().lines().count(), r.err());

        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "");
        r = CliRunner.run("eval", "--data", empty.toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("sac: error: " + empty + ": empty file"), r.err());

        Path noQuestions = Files.writeString(dir.resolve("none.jsonl"), "{\"header\": {\"dataset\": \"X\", \"split\": \"dev\"}}\n");
        r = CliRunner.run("eval", "--data", noQuestions.toString());
        assertEquals(2, r.exit());
        assertEquals("sac: error: " + noQuestions + ": has no questions\n", r.err());

        String data = fixture("squad_sample.jsonl").toString();
        for (String[] bad : new String[][]{{"--ratio", "0"}, {"--ratio", "5,x"}, {"--ratio", "5,5"}, {"--baseline", "middle"},
                {"--limit", "0"}, {"-n", "-1"}, {"--resume"}, {"--json", dir.resolve("no/dir/s.json").toString()}}) {
            List<String> args = new ArrayList<>(List.of("eval", "--device", "cpu", "--data", data));
            args.addAll(List.of(bad));
            r = CliRunner.run(args.toArray(String[]::new));
            assertEquals(2, r.exit(), String.join(" ", bad));
            assertEquals(1, r.err().lines().count(), r.err());
        }
        r = CliRunner.run("eval");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--data FILE is required"), r.err());
    }
}
