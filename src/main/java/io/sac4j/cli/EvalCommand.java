package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.compress.Anchors;
import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacAdapter;
import io.sac4j.eval.Datasets;
import io.sac4j.eval.Example;
import io.sac4j.eval.Question;
import io.sac4j.eval.Report;
import io.sac4j.eval.ResultLog;
import io.sac4j.forward.Backend;
import io.sac4j.load.Json;
import io.sac4j.load.JsonOut;
import io.sac4j.load.Model;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code sac eval}: question answering over SQuAD v1.1 JSON or MRQA JSON lines, with SAC at each ratio and the
 * baselines on the same decoder; the paper's F1/EM and the official SQuAD EM/F1, per dataset and macro-averaged.
 *
 * <p>Each context is tokenized once and, for every (method, ratio), compressed once and reused for all of its
 * questions. Answers are greedy, at most {@code -n} tokens; the prediction is the decoded answer without leading
 * or trailing whitespace. Every answered question is appended to {@code --results} as one JSON line and flushed,
 * so an interrupted run loses nothing; {@code --resume} skips what the file already holds, and the summary always
 * covers the whole file's matching records, so a resumed run reports the same totals as an uninterrupted one.
 *
 * <p>An adapter is trained for one ratio: with one {@code --adapter}, give one {@code --ratio}; for several ratios
 * give one {@code --adapter} per ratio, in the same order. Without an adapter SAC runs training-free (method
 * "sac-free"), which is labelled as such everywhere.
 */
final class EvalCommand implements Command {
    static final int DEFAULT_MAX_TOKENS = 64;

    /** One (method, ratio) configuration and the SAC instance that runs it. */
    private record Run(String method, int ratio, Sac sac, String adapterPath) {
        String ratioLabel() {
            return ratio + "x";
        }
    }

    /** The questions of one data file. */
    private record DataFile(Path path, String dataset, List<Example> examples) {
    }

    @Override
    public String name() {
        return "eval";
    }

    @Override
    public String description() {
        return "evaluate SAC and baselines on SQuAD / MRQA question answering (paper F1/EM and official SQuAD EM/F1)";
    }

    @Override
    public Options options() {
        Options o = new Options();
        Common.addModel(o);
        o.addOption(Option.builder("a").longOpt("adapter").hasArg().argName("FILE")
                .desc("SAC adapter (.pt or .safetensors), trained for one ratio: give one per --ratio, in the same "
                        + "order (default: none = training-free SAC, method sac-free)").build());
        Common.addDevice(o);
        o.addOption(Option.builder().longOpt("data").hasArg().argName("FILE")
                .desc("SQuAD v1.1 JSON or MRQA JSON lines (.gz or plain); repeatable, one dataset each (required)").build());
        o.addOption(Option.builder("r").longOpt("ratio").hasArg().argName("R,R,...")
                .desc("compression ratios (default 5,15,51; with one --adapter, exactly its ratio)").build());
        o.addOption(Option.builder().longOpt("baseline").hasArg().argName("full,first,last")
                .desc("also run these on the same decoder: full context; the first / last tokens within SAC's budget at "
                        + "each ratio (truncate = first and last)").build());
        o.addOption(Option.builder().longOpt("limit").hasArg().argName("N").desc("first N questions of each data file").build());
        o.addOption(Option.builder("n").longOpt("max-tokens").hasArg().argName("N")
                .desc("most answer tokens (default " + DEFAULT_MAX_TOKENS + "; answers stop at EOS)").build());
        o.addOption(Option.builder().longOpt("results").hasArg().argName("FILE.jsonl")
                .desc("append one JSON line per answered question, flushed as it is written").build());
        o.addOption(Option.builder().longOpt("resume").desc("continue --results: skip the questions it already holds").build());
        o.addOption(Option.builder().longOpt("json").hasArg().argName("OUT")
                .desc("write the summary (per dataset and macro, all metrics, labels) as JSON, atomically").build());
        return o;
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        if (!line.hasOption("data")) throw new ParseException("--data FILE is required");
        List<Integer> ratios = ratios(line.getOptionValue("ratio", "5,15,51"));
        List<String> baselines = baselines(line.getOptionValue("baseline"));
        String[] adapters = line.getOptionValues("adapter");
        if (adapters != null && adapters.length != ratios.size()) {
            throw new ParseException(adapters.length == 1
                    ? "an adapter is trained for one ratio: give exactly one --ratio with it (got " + ratios.size() + ")"
                    : adapters.length + " adapters for " + ratios.size() + " ratios: give one --adapter per --ratio, in the same order");
        }
        long limit = line.hasOption("limit") ? Common.intOption(line, "limit", 0, 1, Integer.MAX_VALUE) : -1;
        int maxTokens = Common.intOption(line, "max-tokens", DEFAULT_MAX_TOKENS, 1, 1 << 20);
        boolean quiet = line.hasOption("quiet"), resume = line.hasOption("resume");
        Path results = line.hasOption("results") ? Path.of(line.getOptionValue("results")) : null;
        Path json = line.hasOption("json") ? Path.of(line.getOptionValue("json")) : null;
        if (resume && results == null) throw new ParseException("--resume needs --results FILE");
        if (results != null) {
            checkParent(results);
            if (Files.isDirectory(results)) throw new SacException(results, "is a directory, expected a results file");
            if (!resume && nonEmpty(results))
                throw new SacException(results, "already holds results: pass --resume to continue it, or choose another file");
        }
        if (json != null) checkParent(json);

        List<DataFile> data = readData(line.getOptionValues("data"), limit);

        try (Model model = Common.openModel(line); Backend backend = Common.backend(line);
             Sac base = Sac.open(model, null, backend)) {
            if (model.tokenizer() == null)
                throw new SacException(model.source(), "has no tokenizer: pass --tokenizer (questions are text)");
            List<Sac> opened = new ArrayList<>();
            try {
                List<Run> runs = plan(model, backend, base, ratios, baselines, adapters, opened);
                return evaluate(model, backend, base, runs, data, maxTokens, results, resume, json, quiet, limit);
            } finally {
                for (Sac s : opened) s.close();
            }
        }
    }

    // ------------------------------------------------------------------ options

    static List<Integer> ratios(String list) throws ParseException {
        Set<Integer> out = new LinkedHashSet<>();
        for (String s : list.split(",", -1)) {
            try {
                int r = Integer.parseInt(s.strip());
                if (r < 1) throw new NumberFormatException();
                if (!out.add(r)) throw new ParseException("--ratio lists " + r + " twice");
            } catch (NumberFormatException e) {
                throw new ParseException("--ratio must be integers >= 1 separated by commas, got '" + list + "'");
            }
        }
        return List.copyOf(out);
    }

    static List<String> baselines(String list) throws ParseException {
        if (list == null) return List.of();
        Set<String> out = new LinkedHashSet<>();
        for (String s : list.split(",", -1)) {
            switch (s.strip()) {
                case "full", "first", "last" -> out.add(s.strip());
                case "truncate" -> {
                    out.add("first");
                    out.add("last");
                }
                default -> throw new ParseException("--baseline must list full, first, last or truncate, got '" + s.strip() + "'");
            }
        }
        return List.copyOf(out);
    }

    private static void checkParent(Path p) {
        Path parent = p.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) throw new SacException(p, "the directory does not exist");
    }

    private static boolean nonEmpty(Path p) {
        try {
            return Files.isRegularFile(p) && Files.size(p) > 0;
        } catch (IOException e) {
            throw new SacException(p.toString(), "cannot read: " + e.getMessage(), e);
        }
    }

    /** Every data file's questions (up to the limit), with question ids checked to be unique across files. */
    private static List<DataFile> readData(String[] files, long limit) {
        List<DataFile> out = new ArrayList<>();
        Map<String, Path> ids = new HashMap<>();
        for (String f : files) {
            Path p = Path.of(f);
            List<Example> examples;
            String dataset;
            try (Datasets.Reader r = Datasets.open(p)) {
                dataset = r.dataset();
                examples = r.take(limit);
            }
            if (examples.isEmpty()) throw new SacException(p, "has no questions");
            for (Example e : examples) {
                for (Question q : e.questions()) {
                    Path other = ids.putIfAbsent(q.id(), p);
                    // results and --resume are keyed by question id
                    if (other != null && !other.equals(p))
                        throw new SacException(p, "question id " + q.id() + " is also in " + other
                                + ": evaluate the two files separately");
                }
            }
            out.add(new DataFile(p, dataset, examples));
        }
        return out;
    }

    /** SAC at every ratio (with its adapter, or training-free), then the baselines. */
    private static List<Run> plan(Model model, Backend backend, Sac base, List<Integer> ratios, List<String> baselines,
                                  String[] adapters, List<Sac> opened) {
        List<Run> runs = new ArrayList<>();
        for (int i = 0; i < ratios.size(); i++) {
            int r = ratios.get(i);
            if (adapters == null) {
                runs.add(new Run("sac-free", r, base, null));
                continue;
            }
            Path p = Path.of(adapters[i]);
            if (!Files.exists(p)) throw new SacException(p, "no such file");
            SacAdapter a = SacAdapter.load(p, model.config());
            if (a.memSize() != Anchors.perFullChunk(r))
                throw new SacException(p, "is not trained for ratio " + r + " (it has " + a.memSize()
                        + " role tokens; ratio " + r + " needs " + Anchors.perFullChunk(r) + ")");
            Sac s = Sac.open(model, a, backend);
            opened.add(s);
            runs.add(new Run("sac", r, s, p.toString()));
        }
        if (baselines.contains("full")) runs.add(new Run("full", 1, base, null));
        for (String b : List.of("first", "last")) {
            if (baselines.contains(b)) for (int r : ratios) runs.add(new Run(b, r, base, null));
        }
        return runs;
    }

    // ------------------------------------------------------------------ the run

    private int evaluate(Model model, Backend backend, Sac base, List<Run> runs, List<DataFile> data, int maxTokens,
                         Path results, boolean resume, Path json, boolean quiet, long limit) {
        String modelFp = base.modelFingerprint();
        Map<String, Integer> runIndex = new HashMap<>();
        for (int i = 0; i < runs.size(); i++) runIndex.put(runs.get(i).method() + "|" + runs.get(i).ratioLabel(), i);
        Map<String, Integer> datasetIndex = new LinkedHashMap<>();
        Set<ResultLog.Key> planned = new HashSet<>();
        for (DataFile d : data) {
            datasetIndex.putIfAbsent(d.dataset(), datasetIndex.size());
            for (Example e : d.examples())
                for (Question q : e.questions())
                    for (Run r : runs) planned.add(new ResultLog.Key(r.method(), r.ratioLabel(), q.id()));
        }

        // what an earlier run left, restricted to this plan, and checked to come from the same setup
        List<ResultLog.Record> records = new ArrayList<>();
        Set<ResultLog.Key> done = new HashSet<>();
        if (resume) {
            for (ResultLog.Record rec : ResultLog.read(results)) {
                if (!planned.contains(rec.key()) || done.contains(rec.key())) continue;
                Run run = runs.get(runIndex.get(rec.method() + "|" + rec.ratio()));
                checkSame(results, rec, "model", modelFp);
                checkSame(results, rec, "adapter", run.sac().adapterFingerprint());
                checkSame(results, rec, "max_tokens", (long) maxTokens);
                records.add(rec);
                done.add(rec.key());
            }
        }
        long total = planned.size() - done.size(), answered = 0;

        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (!quiet) {
            System.err.println("model: " + model + "\nbackend: " + backend.name());
            if (!done.isEmpty()) System.err.println(results + ": " + done.size() + " answers already there, " + total + " to go");
        }
        AnswerOptions options = AnswerOptions.DEFAULT.withMaxNewTokens(maxTokens);
        Progress bar = new Progress("questions", !quiet);
        long t0 = System.nanoTime();
        try (ResultLog.Writer writer = results == null ? null : ResultLog.append(results)) {
            bar.update(0, total);
            for (DataFile d : data) {
                for (Example e : d.examples()) {
                    int[] ids = null;
                    for (Run run : runs) {
                        List<Question> pending = new ArrayList<>();
                        for (Question q : e.questions())
                            if (!done.contains(new ResultLog.Key(run.method(), run.ratioLabel(), q.id()))) pending.add(q);
                        if (pending.isEmpty()) continue;
                        if (ids == null) ids = base.contextIds(e.context());
                        long c0 = System.nanoTime();
                        CompressedContext ctx = switch (run.method()) {
                            case "full" -> run.sac().fullContext(ids);
                            case "first" -> run.sac().truncated(ids, run.ratio(), Sac.Keep.FIRST);
                            case "last" -> run.sac().truncated(ids, run.ratio(), Sac.Keep.LAST);
                            default -> run.sac().compress(ids, run.ratio());
                        };
                        double contextMs = (System.nanoTime() - c0) * 1e-6;
                        // a context's questions decoded together (up to Answerer.BATCH at a time): same answers
                        List<String> texts = new ArrayList<>(pending.size());
                        for (Question q : pending) texts.add(q.question());
                        List<Answer> answers = run.sac().answerAll(ctx, texts, options);
                        for (int qi = 0; qi < pending.size(); qi++) {
                            Question q = pending.get(qi);
                            Answer a = answers.get(qi);
                            String prediction = a.text() == null ? "" : a.text().strip();
                            Map<String, Object> extra = new LinkedHashMap<>();
                            extra.put("context_id", e.contextId());
                            extra.put("context_tokens", ctx.contextTokens());
                            extra.put("rows", ctx.anchors());
                            extra.put("context_ms", contextMs);
                            extra.put("answer_tokens", a.ids().length);
                            extra.put("stop", a.stop().toString());
                            extra.put("first_token_ms", a.prefillNanos() * 1e-6);
                            extra.put("answer_ms", (a.prefillNanos() + a.decodeNanos()) * 1e-6);
                            extra.put("model", modelFp);
                            extra.put("adapter", run.sac().adapterFingerprint());
                            extra.put("max_tokens", maxTokens);
                            ResultLog.Record rec = ResultLog.Record.of(run.method(), run.ratioLabel(), d.dataset(), q.id(),
                                    prediction, q.answers(), extra);
                            if (writer != null) writer.write(rec);
                            records.add(rec);
                            bar.update(++answered, total);
                        }
                    }
                }
            }
        }
        bar.finish();
        double secs = (System.nanoTime() - t0) * 1e-9;

        // table order: the plan's runs, then the data files' datasets, whatever order a resumed file had
        records.sort(Comparator.<ResultLog.Record>comparingInt(r -> runIndex.get(r.method() + "|" + r.ratio()))
                .thenComparingInt(r -> datasetIndex.get(r.dataset())));
        List<Report.Row> rows = Report.rows(records);
        List<String> labels = labels(model, runs, data, maxTokens, limit, backend);
        for (String l : labels) out.println("# " + l); // even with --quiet: figures never go out unlabelled
        out.print(Report.table(rows));
        if (!quiet)
            System.err.printf(Locale.ROOT, "%d questions answered in %.1f s (%.2f questions/s)%s%n", answered, secs,
                    answered / Math.max(secs, 1e-9), results == null ? "" : "; per-question results in " + results);
        if (json != null) writeJson(json, model, base, runs, data, maxTokens, limit, backend, rows, labels);
        return Main.OK;
    }

    /** A resumed record must come from the same model, adapter and answer length, or the averages would mix runs. */
    private static void checkSame(Path results, ResultLog.Record rec, String field, Object expected) {
        Object got = rec.extra().get(field);
        if (!expected.equals(got))
            throw new SacException(results, "question " + rec.questionId() + " (" + rec.method() + " " + rec.ratio()
                    + ") was answered with " + field + " " + got + ", this run uses " + expected
                    + ": use another --results file");
    }

    /** Which model, adapters, data and settings produced the figures: printed above the table and put in the JSON. */
    private static List<String> labels(Model model, List<Run> runs, List<DataFile> data, int maxTokens, long limit,
                                       Backend backend) {
        List<String> l = new ArrayList<>();
        l.add("model: " + model);
        Set<String> adapters = new LinkedHashSet<>();
        for (Run r : runs) {
            if (r.method().equals("sac")) adapters.add(r.ratioLabel() + " " + r.adapterPath()
                    + " (" + r.sac().adapterFingerprint().substring(0, Math.min(12, r.sac().adapterFingerprint().length())) + ")");
        }
        l.add(adapters.isEmpty() ? "adapter: none (sac-free = training-free SAC: base weights in the encoder, no role tokens, no [LM])"
                : "adapter: " + String.join(", ", adapters));
        List<String> ds = new ArrayList<>();
        for (DataFile d : data) {
            long n = 0;
            for (Example e : d.examples()) n += e.questions().size();
            ds.add(d.dataset() + " = " + d.path() + " (" + n + " questions" + (limit >= 0 ? ", --limit " + limit : "") + ")");
        }
        l.add("data: " + String.join("; ", ds));
        l.add("answers: greedy, at most " + maxTokens + " tokens; backend " + backend.name());
        l.add("F1/EM: the paper's (rouge 1.0.1 ROUGE-1 F and exact match, against answers[0]); official: SQuAD v1.1 "
                + "EM/F1 (normalised, best over all answers); all in percent");
        if (model.source().contains("(bundled)"))
            l.add("note: the bundled model cannot answer questions; these figures test the pipeline, not SAC's quality");
        return l;
    }

    private static void writeJson(Path file, Model model, Sac base, List<Run> runs, List<DataFile> data, int maxTokens,
                                  long limit, Backend backend, List<Report.Row> rows, List<String> labels) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.toString());
        m.put("model_fingerprint", base.modelFingerprint());
        List<Object> rs = new ArrayList<>();
        for (Run r : runs) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("method", r.method());
            x.put("ratio", r.ratioLabel());
            x.put("adapter", r.adapterPath());
            x.put("adapter_fingerprint", r.sac().adapterFingerprint());
            rs.add(x);
        }
        m.put("runs", rs);
        List<Object> ds = new ArrayList<>();
        for (DataFile d : data) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("dataset", d.dataset());
            x.put("file", d.path().toString());
            ds.add(x);
        }
        m.put("data", ds);
        m.put("limit", limit < 0 ? null : limit);
        m.put("max_tokens", maxTokens);
        m.put("backend", backend.name());
        m.put("labels", labels);
        m.put("rows", Json.parseObject(Report.json(rows), "report").get("rows"));
        String text = JsonOut.write(m) + "\n";
        Common.writeText(file, text);
    }
}
