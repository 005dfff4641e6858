package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.compress.CompressOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.Backend;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** {@code sac compress}: a context file to a .sac file of anchor K/V rows. */
final class CompressCommand implements Command {
    @Override
    public String name() {
        return "compress";
    }

    @Override
    public String description() {
        return "compress a context once into a .sac file of anchor key/value rows";
    }

    @Override
    public Options options() {
        Options o = new Options();
        Common.addModel(o);
        Common.addAdapter(o);
        Common.addDevice(o);
        o.addOption(Option.builder("r").longOpt("ratio").hasArg().argName("R").desc("compression ratio: one anchor every R tokens (5, 15, 51 or any integer >= 1; default 5)").build());
        o.addOption(Option.builder("c").longOpt("context").hasArg().argName("FILE").desc("the context, a UTF-8 text file (required)").build());
        o.addOption(Option.builder("o").longOpt("output").hasArg().argName("OUT.sac").desc("where to write the compressed context (required; written atomically)").build());
        o.addOption(Option.builder().longOpt("baseline").hasArg().argName("full|first|last")
                .desc("instead of SAC, save a baseline on the same decoder: the full context, or the first / last tokens within the same budget").build());
        o.addOption(Option.builder().longOpt("causal-encoder").desc("ablation: causal instead of bidirectional attention in the encoder").build());
        o.addOption(Option.builder().longOpt("no-anchor-embedding").desc("ablation: no role tokens added at anchors").build());
        o.addOption(Option.builder().longOpt("random-anchors").hasArg().argName("SEED").desc("ablation: random anchors drawn with SEED").build());
        Common.addJson(o, "what was written, sizes and speed");
        return o;
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        if (!line.hasOption("context")) throw new ParseException("--context FILE is required");
        if (!line.hasOption("output")) throw new ParseException("-o/--output OUT.sac is required");
        int ratio = Common.intOption(line, "ratio", 5, 1, 1 << 20);
        boolean quiet = line.hasOption("quiet"), json = line.hasOption("json");
        Path contextFile = Path.of(line.getOptionValue("context")), out = Path.of(line.getOptionValue("output"));
        String baseline = line.getOptionValue("baseline");
        if (baseline != null && !baseline.matches("full|first|last"))
            throw new ParseException("--baseline must be full, first or last, got '" + baseline + "'");
        String context = Common.readText(contextFile);
        if (context.isBlank()) throw new SacException(contextFile, "is empty: nothing to compress");
        CompressOptions options = CompressOptions.DEFAULT.withCausalEncoder(line.hasOption("causal-encoder"))
                .withNoAnchorEmbedding(line.hasOption("no-anchor-embedding"));
        if (line.hasOption("random-anchors")) options = options.withRandomAnchors(Common.longOption(line, "random-anchors", 0));

        try (Model model = Common.openModel(line); Backend backend = Common.backend(line);
             Sac sac = Sac.open(model, Common.openAdapter(line, model), backend)) {
            int[] ids = sac.contextIds(context);
            Progress bar = new Progress("tokens", !quiet);
            long t0 = System.nanoTime();
            CompressedContext ctx = switch (baseline == null ? "sac" : baseline) {
                case "full" -> sac.fullContext(ids);
                case "first" -> sac.truncated(ids, ratio, Sac.Keep.FIRST);
                case "last" -> sac.truncated(ids, ratio, Sac.Keep.LAST);
                default -> sac.compress(ids, ratio, options.withProgress(bar::update));
            };
            double secs = Math.max((System.nanoTime() - t0) * 1e-9, 1e-9);
            bar.finish();
            SacFile.save(out, ctx, model.config());
            ModelConfig c = model.config();
            long full = ctx.contextTokens() * CompressedContext.rowBytes(c.nLayers(), c.kvDim());
            long kept = ctx.bytes(c.nLayers(), c.kvDim());
            if (!quiet) System.err.println("model: " + model + "\nbackend: " + backend.name());
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("output", out.toString());
                doc.put("kind", ctx.kind().toString());
                doc.put("baseline", baseline);
                doc.put("ratio", ctx.ratio());
                doc.put("context_tokens", ctx.contextTokens());
                doc.put("rows", ctx.anchors());
                doc.put("kv_bytes_full", full);
                doc.put("kv_bytes_kept", kept);
                doc.put("file_bytes", fileSize(out));
                doc.put("seconds", secs);
                doc.put("tokens_per_second", ctx.contextTokens() / secs);
                doc.put("model", model.toString());
                doc.put("model_fingerprint", sac.modelFingerprint());
                doc.put("adapter_fingerprint", ctx.adapterFingerprint());
                doc.put("backend", backend.name());
                Common.printJson(doc);
            } else {
                System.out.printf(Locale.ROOT, "%s: %s, %d tokens in, %d rows kept (1/%.2f), KV %s -> %s, %.0f tokens/s%n",
                        out, describe(ctx, baseline), ctx.contextTokens(), ctx.anchors(),
                        ctx.contextTokens() / (double) ctx.anchors(), human(full), human(kept), ctx.contextTokens() / secs);
            }
        }
        return Main.OK;
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new SacException(p.toString(), "cannot read back the file just written: " + e.getMessage(), e);
        }
    }

    private static String describe(CompressedContext ctx, String baseline) {
        if (baseline != null) return "baseline " + baseline;
        return (ctx.kind() == CompressedContext.Kind.SAC ? "SAC" : "training-free SAC") + " ratio " + ctx.ratio();
    }

    static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        if (bytes < 1 << 20) return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        if (bytes < 1L << 30) return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
        return String.format(Locale.ROOT, "%.2f GiB", bytes / 1073741824.0);
    }
}
