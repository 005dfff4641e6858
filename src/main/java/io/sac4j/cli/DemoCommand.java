package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacAdapter;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.Backend;
import io.sac4j.load.Model;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code sac demo}: the whole pipeline with no arguments: a bundled text compressed at 5x and 15x, saved to .sac
 * files and loaded back, then the same questions answered over the full context and over each compressed one.
 */
final class DemoCommand implements Command {
    @Override
    public String name() {
        return "demo";
    }

    @Override
    public String description() {
        return "compress a bundled text and answer questions: full context vs compressed, side by side";
    }

    @Override
    public Options options() {
        Options o = new Options();
        Common.addModel(o);
        Common.addAdapter(o);
        Common.addDevice(o);
        o.addOption(Option.builder("r").longOpt("ratio").hasArg().argName("R,R,...")
                .desc("compression ratios to show (default 5,15; --ratios is the old spelling)").build());
        o.addOption(Option.builder("n").longOpt("max-tokens").hasArg().argName("N").desc("most answer tokens (default 24)").build());
        Common.addJson(o, "the contexts (rows, KV bytes, times) and every answer");
        return o;
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("--ratios", "--ratio");
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        List<Integer> ratios = EvalCommand.ratios(line.getOptionValue("ratio", "5,15"));
        int maxTokens = Common.intOption(line, "max-tokens", 24, 1, 4096);
        String context = resource("context.txt");
        List<String> questions = resource("questions.txt").lines().filter(s -> !s.isBlank()).toList();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);

        try (Model model = Common.openModel(line); Backend backend = Common.backend(line)) {
            SacAdapter adapter = Common.openAdapter(line, model);
            if (adapter != null && ratios.size() > 1)
                throw new SacException(adapter.source(), "an adapter is trained for one ratio: pass --ratio with just that one");
            try (Sac sac = Sac.open(model, adapter, backend)) {
                Path dir = Files.createTempDirectory("sac4j-demo");
                try {
                    return demo(out, model, backend, sac, context, questions, ratios, maxTokens, dir,
                            line.hasOption("json"), line.hasOption("quiet"));
                } finally {
                    try (var files = Files.list(dir)) {
                        for (Path p : files.toList()) Files.deleteIfExists(p);
                    }
                    Files.deleteIfExists(dir);
                }
            }
        } catch (IOException e) {
            throw new SacException("demo", "temporary files: " + e.getMessage());
        }
    }

    /** Prints the text report as it goes, or with --json one object at the end (same figures, same order). */
    private static int demo(PrintStream out, Model model, Backend backend, Sac sac, String context, List<String> questions,
                            List<Integer> ratios, int maxTokens, Path dir, boolean json, boolean quiet) {
        // with --json the text report is built but goes nowhere: stdout holds only the JSON object
        PrintStream text = json ? new PrintStream(java.io.OutputStream.nullOutputStream(), false, StandardCharsets.UTF_8) : out;
        int[] ids = sac.contextIds(context);
        long rowBytes = CompressedContext.rowBytes(model.config().nLayers(), model.config().kvDim());
        text.println("sac4j demo: " + model);
        text.println("backend: " + backend.name() + "; " + (sac.trainingFree()
                ? "no adapter: training-free SAC (base weights in the encoder, no role tokens, no [LM])" : "SAC adapter " + sac.adapterFingerprint().substring(0, 12)));
        text.printf(Locale.ROOT, "context: %d tokens (%d chunks of up to 510)%n%n", ids.length, (ids.length + 509) / 510);

        List<String> names = new ArrayList<>();
        List<CompressedContext> contexts = new ArrayList<>();
        List<Object> contextJson = new ArrayList<>();
        text.printf(Locale.ROOT, "%-14s %8s %12s %8s %10s%n", "", "KV rows", "KV bytes", "saved", "time");
        long t0 = System.nanoTime();
        CompressedContext full = sac.fullContext(ids);
        double fullMs = (System.nanoTime() - t0) * 1e-6;
        text.printf(Locale.ROOT, "%-14s %8d %12s %8s %8.0f ms%n", "full context", full.anchors(),
                CompressCommand.human(full.anchors() * rowBytes), "-", fullMs);
        names.add("full");
        contexts.add(full);
        contextJson.add(contextJson("full", full, rowBytes, fullMs));
        for (int r : ratios) {
            long t1 = System.nanoTime();
            CompressedContext c = sac.compress(ids, r);
            double ms = (System.nanoTime() - t1) * 1e-6;
            // round trip through a .sac file: what `sac compress` writes and `sac ask` reads
            Path file = dir.resolve("demo-" + r + ".sac");
            SacFile.save(file, c, model.config());
            CompressedContext loaded = SacFile.load(file, backend, model.config(), sac.modelFingerprint(), sac.adapterFingerprint());
            text.printf(Locale.ROOT, "%-14s %8d %12s %7.0f%% %8.0f ms%n", "SAC 1/" + r, loaded.anchors(),
                    CompressCommand.human(loaded.anchors() * rowBytes), 100.0 * (1 - loaded.anchors() / (double) full.anchors()), ms);
            names.add("SAC 1/" + r);
            contexts.add(loaded);
            contextJson.add(contextJson("SAC 1/" + r, loaded, rowBytes, ms));
        }
        text.println();
        AnswerOptions opts = AnswerOptions.DEFAULT.withMaxNewTokens(maxTokens);
        int width = names.stream().mapToInt(String::length).max().orElse(4);
        List<Object> questionJson = new ArrayList<>();
        for (String q : questions) {
            text.println("Q: " + q);
            List<Object> answers = new ArrayList<>();
            for (int i = 0; i < contexts.size(); i++) {
                Answer a = sac.answer(contexts.get(i), q, opts);
                String t = a.text() == null ? "" : a.text();
                text.printf(Locale.ROOT, "  %-" + width + "s | %s%n", names.get(i), t.replaceAll("\\s+", " ").strip());
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("context", names.get(i));
                m.put("answer", a.text());
                List<Object> answerIds = new ArrayList<>();
                for (int id : a.ids()) answerIds.add(id);
                m.put("ids", answerIds);
                m.put("stop", a.stop().toString());
                m.put("first_token_ms", a.prefillNanos() * 1e-6);
                m.put("decode_ms", a.decodeNanos() * 1e-6);
                answers.add(m);
            }
            Map<String, Object> qm = new LinkedHashMap<>();
            qm.put("question", q);
            qm.put("answers", answers);
            questionJson.add(qm);
            text.println();
        }
        String note = model.config().dim() < 256
                ? "Note: this model (" + model.config().dim() + "-dim, trained on short dream texts) cannot answer questions: "
                + "the demo shows the pipeline, the memory saved and how close compressed answers stay to full-context ones. "
                + "Run it with --model and --adapter for real answers." : null;
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("model", model.toString());
            doc.put("model_fingerprint", sac.modelFingerprint());
            doc.put("adapter_fingerprint", sac.adapterFingerprint());
            doc.put("backend", backend.name());
            doc.put("context_tokens", ids.length);
            doc.put("max_tokens", maxTokens);
            doc.put("contexts", contextJson);
            doc.put("questions", questionJson);
            doc.put("note", note);
            Common.printJson(doc);
        } else if (note != null && !quiet) {
            out.println(note);
        }
        return Main.OK;
    }

    private static Map<String, Object> contextJson(String name, CompressedContext c, long rowBytes, double ms) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("kind", c.kind().toString());
        m.put("ratio", c.ratio());
        m.put("context_tokens", c.contextTokens());
        m.put("rows", c.anchors());
        m.put("kv_bytes", c.anchors() * rowBytes);
        m.put("context_ms", ms);
        return m;
    }

    private static String resource(String name) {
        try (InputStream in = DemoCommand.class.getResourceAsStream("/io/sac4j/demo/" + name)) {
            if (in == null) throw new SacException("demo", "resource " + name + " is missing from the jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SacException("demo", "cannot read " + name + ": " + e.getMessage());
        }
    }
}
