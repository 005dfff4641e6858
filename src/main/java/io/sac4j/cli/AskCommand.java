package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.Answerer;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.Backend;
import io.sac4j.load.Model;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code sac ask}: questions answered against a saved compressed context, which is loaded once. */
final class AskCommand implements Command {
    @Override
    public String name() {
        return "ask";
    }

    @Override
    public String description() {
        return "answer questions against a compressed context (.sac) without recomputing it";
    }

    @Override
    public Options options() {
        Options o = new Options();
        Common.addModel(o);
        Common.addAdapter(o);
        Common.addDevice(o);
        o.addOption(Option.builder("s").longOpt("compressed").hasArg().argName("FILE.sac").desc("the compressed context (required)").build());
        o.addOption(Option.builder("Q").longOpt("question").hasArg().argName("TEXT").desc("a question (repeatable)").build());
        o.addOption(Option.builder().longOpt("questions").hasArg().argName("FILE").desc("questions, one per line (blank lines skipped)").build());
        o.addOption(Option.builder("n").longOpt("max-tokens").hasArg().argName("N").desc("most answer tokens (default 1024)").build());
        Common.addJson(o, "the answers and timings");
        return o;
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        if (!line.hasOption("compressed")) throw new ParseException("--compressed FILE.sac is required");
        List<String> questions = new ArrayList<>();
        if (line.hasOption("question")) questions.addAll(List.of(line.getOptionValues("question")));
        if (line.hasOption("questions")) {
            Path qf = Path.of(line.getOptionValue("questions"));
            Common.readText(qf).lines().filter(s -> !s.isBlank()).forEach(questions::add);
            if (questions.isEmpty()) throw new SacException(qf, "has no questions");
        }
        if (questions.isEmpty()) throw new ParseException("give --question TEXT (repeatable) or --questions FILE");
        int maxTokens = Common.intOption(line, "max-tokens", 1024, 1, 1 << 20);
        boolean json = line.hasOption("json"), quiet = line.hasOption("quiet");
        Path file = Path.of(line.getOptionValue("compressed"));

        try (Model model = Common.openModel(line); Backend backend = Common.backend(line);
             Sac sac = Sac.open(model, Common.openAdapter(line, model), backend)) {
            long t0 = System.nanoTime();
            CompressedContext ctx = SacFile.load(file, backend, model.config(), sac.modelFingerprint(), null);
            checkAdapter(file, ctx, sac);
            double loadMs = (System.nanoTime() - t0) * 1e-6;
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            if (!quiet && !json)
                System.err.printf(Locale.ROOT, "%s: %d rows for %d context tokens (%s), loaded in %.1f ms%n", file,
                        ctx.anchors(), ctx.contextTokens(), ctx.kind(), loadMs);
            List<Object> results = new ArrayList<>();
            // up to Answerer.BATCH questions decoded together (same answers, each weight read once per step for
            // all of them), printed a batch at a time
            for (int from = 0; from < questions.size(); from += Answerer.BATCH) {
                List<String> batch = questions.subList(from, Math.min(questions.size(), from + Answerer.BATCH));
                List<Answer> answers = sac.answerAll(ctx, batch, AnswerOptions.DEFAULT.withMaxNewTokens(maxTokens));
                for (int i = 0; i < batch.size(); i++) {
                    String q = batch.get(i);
                    Answer a = answers.get(i);
                    if (json) {
                        results.add(toJson(q, a));
                    } else {
                        out.println("Q: " + q);
                        out.println("A: " + a.text());
                        if (!quiet)
                            System.err.printf(Locale.ROOT, "   %d tokens (%s), first token after %.1f ms, %.1f tok/s%s%n",
                                    a.ids().length, a.stop(), a.prefillNanos() * 1e-6, a.decodeTokensPerSecond(),
                                    batch.size() > 1 ? " (" + batch.size() + " questions decoded together)" : "");
                    }
                }
            }
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("compressed", file.toString());
                doc.put("kind", ctx.kind().toString());
                doc.put("ratio", ctx.ratio());
                doc.put("context_tokens", ctx.contextTokens());
                doc.put("rows", ctx.anchors());
                doc.put("load_ms", loadMs);
                doc.put("answers", results);
                Common.printJson(doc);
            }
        }
        return Main.OK;
    }

    /** A SAC context needs the adapter it was made with (its [LM] vector starts the answer). */
    private static void checkAdapter(Path file, CompressedContext ctx, Sac sac) {
        if (ctx.kind() != CompressedContext.Kind.SAC) return;
        if (sac.trainingFree())
            throw new SacException(file, "was compressed with a SAC adapter (fingerprint " + ctx.adapterFingerprint()
                    .substring(0, Math.min(12, ctx.adapterFingerprint().length())) + "...): pass it with --adapter");
        if (!ctx.adapterFingerprint().equals(sac.adapterFingerprint()))
            throw new SacException(file, "was compressed with another SAC adapter than --adapter");
    }

    private static Map<String, Object> toJson(String question, Answer a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("question", question);
        m.put("answer", a.text());
        List<Object> ids = new ArrayList<>();
        for (int id : a.ids()) ids.add(id);
        m.put("ids", ids);
        m.put("stop", a.stop().toString());
        m.put("first_token_ms", a.prefillNanos() * 1e-6);
        m.put("decode_ms", a.decodeNanos() * 1e-6);
        m.put("decode_tokens_per_second", a.decodeTokensPerSecond());
        return m;
    }
}
