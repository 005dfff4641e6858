package io.sac4j.bench;

import io.sac4j.load.DType;
import io.sac4j.load.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns JMH's JSON results (run.sh: -rf json) into benchmarks/RESULTS.md: GFLOP/s and weight GB/s for GemmBench,
 * tokens per second for ForwardBench, each against the machine's limits and llama.cpp's figures; compression tokens
 * per second (CompressBench), ask latency full vs compressed (AskBench), and KV bytes / memory from
 * {@link Footprint}'s JSON files.
 * <p>
 * Usage: Report jmh.json RESULTS.md key=value... where keys are cpu, cores, flags, date, load_before, load_after and
 * footprint (Footprint JSON files, comma-separated; missing ones are reported as not run).
 */
public final class Report {
    /** Limits of the reference machine (2 Zen 4 cores), measured before with separate probes. */
    private static final double F32_PEAK = 200, BF16_PEAK = 390, MEM_BW = 35;
    /**
     * llama.cpp on the same machine, same shape (Llama-3.2-1B), 2 threads, pp512 / tg64 in tok/s: measured earlier
     * (not by this script).
     */
    private static final Map<String, double[]> LLAMA_CPP = Map.of(
            "F32", new double[]{40, 6.0}, "F16", new double[]{43, 12.0},
            "BF16", new double[]{79, 11.9}, "Q8_0", new double[]{106, 17.7});

    /** score: JMH's mean time per op; best: the fastest measured iteration (least disturbed by other load). */
    private record Result(String benchmark, Map<String, Object> params, double score, double error, double best, String unit,
                          String how) {
        String param(String k) {
            return String.valueOf(params.get(k));
        }
    }

    public static void main(String[] args) throws IOException {
        Path json = Path.of(args[0]), out = Path.of(args[1]);
        Map<String, String> info = new LinkedHashMap<>();
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            info.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Object parsed = Json.parse(Files.readString(json), json.toString());
        List<Result> results = new ArrayList<>();
        String jdk = "?";
        for (Object o : (List<?>) parsed) {
            @SuppressWarnings("unchecked") Map<String, Object> r = (Map<String, Object>) o;
            Map<String, Object> metric = Json.obj(r, "primaryMetric", json.toString());
            Object params = r.get("params");
            @SuppressWarnings("unchecked") Map<String, Object> p = params == null ? Map.of() : (Map<String, Object>) params;
            Object err = metric.get("scoreError");
            double best = Double.POSITIVE_INFINITY;
            if (metric.get("rawData") instanceof List<?> forks)
                for (Object f : forks)
                    if (f instanceof List<?> iterations)
                        for (Object it : iterations) if (it instanceof Number n) best = Math.min(best, n.doubleValue());
            results.add(new Result(Json.string(r, "benchmark", "", json.toString()), p,
                    Json.number(metric, "score", Double.NaN, json.toString()),
                    err instanceof Number n ? n.doubleValue() : Double.NaN, best,
                    Json.string(metric, "scoreUnit", "", json.toString()), how(r, json.toString())));
            jdk = Json.string(r, "jdkVersion", "?", json.toString()) + " (" + Json.string(r, "vmName", "", json.toString())
                    + " " + Json.string(r, "vmVersion", "", json.toString()) + ")";
        }
        List<Map<String, Object>> footprints = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (String f : info.getOrDefault("footprint", "").split(",")) {
            if (f.isBlank()) continue;
            Path p = Path.of(f.trim());
            if (Files.isRegularFile(p)) footprints.add(Json.parseObject(Files.readString(p), p.toString()));
            else missing.add(p.toString());
        }
        Files.writeString(out, render(results, jdk, info) + renderFootprint(footprints, missing)
                + renderGpu(out.resolveSibling("RESULTS-GPU.md")) + RAW);
    }

    /**
     * The GPU's figures, so that this file holds them too: RESULTS-GPU.md's summary (everything above its first
     * "---" line, headings one level down). That file is written on a GPU machine by scripts/gpu/run_all.sh.
     */
    static String renderGpu(Path gpu) throws IOException {
        if (!Files.isRegularFile(gpu)) return "";
        String text = Files.readString(gpu);
        int title = text.indexOf('\n'), rule = text.indexOf("\n---\n");
        if (title < 0 || rule < title) return "\n## GPU\n\nSee RESULTS-GPU.md (it has no summary yet).\n";
        String summary = text.substring(title + 1, rule).strip().replaceAll("(?m)^(#+ )", "#$1");
        return "\n## GPU (the summary of RESULTS-GPU.md)\n\n" + summary + "\n";
    }

    /** How JMH measured a result, e.g. "5 x 1 s after 3 warm-up" or "5 single shots after 3 warm-up". */
    private static String how(Map<String, Object> r, String src) {
        long wi = Json.integer(r, "warmupIterations", 0, src), mi = Json.integer(r, "measurementIterations", 0, src);
        String time = Json.string(r, "measurementTime", "?", src);
        return (time.equals("single-shot") ? mi + " single shots" : mi + " x " + time) + " after " + wi + " warm-up";
    }

    private static String render(List<Result> results, String jdk, Map<String, String> info) {
        StringBuilder b = new StringBuilder();
        String threads = results.isEmpty() ? "?" : results.get(0).param("threads");
        b.append("# sac4j CPU benchmarks\n\n");
        b.append("Written by `benchmarks/run.sh` (JMH, see `benchmarks/src`) on ").append(info.getOrDefault("date", "?")).append(".\n");
        b.append("The GPU figures (kernels vs SDPA / FlexAttention, anchor gather, end to end vs PyTorch) are summarised at the"
                + " end, from RESULTS-GPU.md, which `scripts/gpu/run_all.sh` writes on a GPU machine.\n\n");
        b.append("- Machine: ").append(info.getOrDefault("cpu", "?")).append(", ").append(info.getOrDefault("cores", "?"))
                .append(" cores, vector extensions: ").append(info.getOrDefault("flags", "?")).append("\n");
        b.append("- JDK: ").append(jdk).append("\n");
        b.append("- Threads: ").append(threads).append("\n");
        b.append("- Load average (1 min) before / after the run: ").append(info.getOrDefault("load_before", "?")).append(" / ")
                .append(info.getOrDefault("load_after", "?")).append(" (the machine may be shared: anything well above 0 means other work competed for the cores,")
                .append(" so means are pessimistic and the best iteration is the fairer measure of the code)\n");
        b.append("- Reference limits of this machine, measured earlier with separate probes: f32 FMA GEMM ~").append(fmt(F32_PEAK))
                .append(" GFLOP/s, bf16 dot-product GEMM ~").append(fmt(BF16_PEAK)).append(" GFLOP/s (AVX512-BF16, which Java cannot reach: the Vector API has no bf16 dot product), memory ~")
                .append(fmt(MEM_BW)).append(" GB/s with 2 threads.\n\n");

        b.append("## Matmul (GemmBench)\n\n");
        b.append("`rows x k x n`: x[rows, k] times w[n, k]^T, random weights; rows 512 are prefill GEMMs, rows 1 the decode GEMV of the LM head. ")
                .append("Activations and accumulation are f32; weights are widened to f32 (in registers for the GEMV, per L2-sized block for the GEMM).\n\n");
        b.append("| shape | type | ms/op (mean ± 99.9% CI) | GFLOP/s | best iteration | % of f32 peak (best) | % of bf16 peak (best) | weight GB/s | best | % of memory BW (best) |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            if (!r.benchmark().endsWith("GemmBench.matmul")) continue;
            String[] s = r.param("shape").split("x");
            double rows = Double.parseDouble(s[0]), k = Double.parseDouble(s[1]), n = Double.parseDouble(s[2]);
            double flop = 2 * rows * k * n, bytes = DType.valueOf(r.param("type")).bytes((long) (n * k));
            double sec = r.score() / 1e3, bestSec = r.best() / 1e3;
            boolean gemv = rows == 1;
            b.append("| ").append(r.param("shape")).append(" | ").append(r.param("type")).append(" | ").append(fmt(r.score()))
                    .append(" ± ").append(fmt(r.error())).append(" | ").append(fmt(flop / sec / 1e9)).append(" | ")
                    .append(fmt(flop / bestSec / 1e9)).append(" | ")
                    .append(gemv ? "" : pct(flop / bestSec / 1e9 / F32_PEAK)).append(" | ")
                    .append(gemv ? "" : pct(flop / bestSec / 1e9 / BF16_PEAK)).append(" | ")
                    .append(gemv ? fmt(bytes / sec / 1e9) : "").append(" | ")
                    .append(gemv ? fmt(bytes / bestSec / 1e9) : "").append(" | ")
                    .append(gemv ? pct(bytes / bestSec / 1e9 / MEM_BW) : "").append(" |\n");
        }

        b.append("\n## Forward pass (ForwardBench)\n\n");
        b.append("Llama-3.2-1B shape (dim 2048, ffn 8192, 16 layers, 32/8 heads of 64, vocab 128256, tied), random weights: ")
                .append("prefill of 512 tokens (logits of the last row) and decode of one token after a 512-token prompt. ")
                .append("llama.cpp figures are pp512 / tg64 with 2 threads on this machine, measured earlier, not by this run.\n\n");
        b.append("| type | prefill tok/s (mean) | best | llama.cpp | ratio (mean) | decode tok/s (mean) | best | llama.cpp | ratio (mean) | decode weight GB/s (best) |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (String type : new String[]{"F32", "F16", "BF16", "Q8_0"}) {
            Result pre = find(results, "ForwardBench.prefill", type), dec = find(results, "ForwardBench.decode", type);
            if (pre == null && dec == null) continue;
            double[] ref = LLAMA_CPP.get(type);
            double prompt = pre == null ? Double.NaN : Double.parseDouble(pre.param("prompt"));
            double preTok = pre == null ? Double.NaN : prompt / seconds(pre, pre.score());
            double preBest = pre == null ? Double.NaN : prompt / seconds(pre, pre.best());
            double decTok = dec == null ? Double.NaN : 1 / seconds(dec, dec.score());
            double decBest = dec == null ? Double.NaN : 1 / seconds(dec, dec.best());
            // weights read per decoded token: every matrix once, the tied embedding table as the LM head
            long params = 16L * (2048L * 2048 * 2 + 512L * 2048 * 2 + 3L * 8192 * 2048) + 128256L * 2048;
            double gbs = DType.valueOf(type).bytes(params) * decBest / 1e9;
            b.append("| ").append(type).append(" | ").append(fmt(preTok)).append(" | ").append(fmt(preBest)).append(" | ")
                    .append(fmt(ref[0])).append(" | ").append(ratio(preTok / ref[0])).append(" | ")
                    .append(fmt(decTok)).append(" | ").append(fmt(decBest)).append(" | ").append(fmt(ref[1])).append(" | ")
                    .append(ratio(decTok / ref[1])).append(" | ").append(fmt(gbs)).append(" |\n");
        }
        b.append("\nWhat bounds these figures: a GEMM here is f32 FMAs whatever the weight type (weights are widened exactly; ")
                .append("activations stay f32), so prefill of every type is capped by the f32 peak: ~100 tok/s at 100% of it for ")
                .append("~1 TFLOP per 512-token prefill. llama.cpp's Q8_0 prefill is faster because it also quantises the ")
                .append("activations to int8 and uses integer dot products, which changes results and which the Vector API ")
                .append("does not offer. Decode reads every weight once per token, so it is bound by memory bandwidth: ")
                .append("decode weight GB/s is bytes of weights x tok/s (attention over the 512-row cache and the other ops ")
                .append("take the rest of the time).\n");
        Result preB = find(results, "ForwardBench.prefillBundled", null), decB = find(results, "ForwardBench.decodeBundled", null);
        if (preB != null || decB != null) {
            b.append("\nThe bundled model (aidreams260K: llama2.c, F32, dim 64, 4 layers, vocab 512), the same work:\n\n")
                    .append("| model | prefill tok/s (mean) | best | decode tok/s (mean) | best |\n|---|---:|---:|---:|---:|\n");
            double prompt = preB == null ? Double.NaN : Double.parseDouble(preB.param("prompt"));
            b.append("| bundled | ").append(preB == null ? "" : fmt(prompt / seconds(preB, preB.score()))).append(" | ")
                    .append(preB == null ? "" : fmt(prompt / seconds(preB, preB.best()))).append(" | ")
                    .append(decB == null ? "" : fmt(1 / seconds(decB, decB.score()))).append(" | ")
                    .append(decB == null ? "" : fmt(1 / seconds(decB, decB.best()))).append(" |\n");
        }
        renderCompress(b, results);
        renderAsk(b, results);
        renderEight(b, results);
        boolean header = false;
        for (Result r : results) {
            if (r.benchmark().endsWith("GemmBench.matmul") || r.benchmark().contains("ForwardBench.")
                    || r.benchmark().contains("CompressBench.") || r.benchmark().contains("AskBench.")) continue;
            if (!header) {
                b.append("\n## Other benchmarks\n\n| benchmark | parameters | score (mean ± 99.9% CI) | best iteration | unit |\n|---|---|---:|---:|---|\n");
                header = true;
            }
            String name = r.benchmark().substring(r.benchmark().lastIndexOf('.', r.benchmark().lastIndexOf('.') - 1) + 1);
            b.append("| ").append(name).append(" | ").append(r.params().toString().replaceAll("[{}]", "")).append(" | ")
                    .append(fmt(r.score())).append(" ± ").append(fmt(r.error())).append(" | ").append(fmt(r.best()))
                    .append(" | ").append(r.unit()).append(" |\n");
        }
        return b.toString();
    }

    private static final String RAW = "\nRaw output of the run: `benchmarks/target/jmh.json`, `benchmarks/target/jmh.log` and "
            + "`benchmarks/target/footprint-*.json`.\n";

    /** Models in the order the sections list them; a model a run did not include is left out. */
    private static final String[] MODELS = {Subject.BUNDLED, Subject.LLAMA_1B};

    private static String modelName(String model) {
        return switch (model) {
            case Subject.BUNDLED -> "bundled aidreams260K (dim 64, 4 layers, f32)";
            case Subject.LLAMA_1B -> "Llama-3.2-1B shape, random BF16 weights";
            default -> model;
        };
    }

    private static void renderCompress(StringBuilder b, List<Result> results) {
        List<Result> rs = results.stream().filter(r -> r.benchmark().contains("CompressBench.")).toList();
        if (rs.isEmpty()) return;
        b.append("\n## SAC compression (CompressBench)\n\n");
        b.append("`Sac.compress` of a context of exactly n encoder ids ([BOS] + \"### Context:\\n\" + ordinary ids), ")
                .append("training-free (no adapter), ").append(rs.getFirst().param("threads")).append(" threads. ")
                .append("One ratio is enough: the encoder runs the whole ")
                .append("model over every token whatever the ratio (510-token chunks, bidirectional inside each, no LM head); ")
                .append("the ratio only decides how many cache rows are copied out afterwards. An adapter changes nothing ")
                .append("in this work except that the q/v weights read are its merged f32 copies (merged once, before any compression). ")
                .append(rs.stream().anyMatch(r -> r.param("model").equals(Subject.LLAMA_1B))
                        ? "The 1B model's single shots follow a 512-token warm-up call made in setup. " : "")
                .append("Measured: ")
                .append(hows(rs)).append(".\n\n");
        b.append("| model | n (tokens) | ratio | time per context (mean ± 99.9% CI) | tokens/s (mean) | tokens/s (best) |\n");
        b.append("|---|---:|---:|---:|---:|---:|\n");
        for (String model : MODELS) {
            for (Result r : rs) {
                if (!r.param("model").equals(model)) continue;
                double n = Double.parseDouble(r.param("tokens"));
                b.append("| ").append(modelName(model)).append(" | ").append(r.param("tokens")).append(" | ")
                        .append(r.param("ratio")).append("x | ").append(meanCi(r)).append(" ").append(unit(r)).append(" | ")
                        .append(fmt(n / seconds(r, r.score()))).append(" | ").append(fmt(n / seconds(r, r.best()))).append(" |\n");
            }
        }
    }

    private static void renderAsk(StringBuilder b, List<Result> results) {
        List<Result> rs = results.stream().filter(r -> r.benchmark().contains("AskBench.") && !metric(r).equals("eight")).toList();
        if (rs.isEmpty()) return;
        int[] ratios = {1, 5, 15, 51};
        b.append("\n## Ask latency, full vs compressed context (AskBench)\n\n");
        b.append("One question (\"What did the machine dream of?\", ").append("tokenized by the bundled tokenizer for both models) ")
                .append("answered over a context of n encoder ids held in full (the ids run causally through the decoder: the ")
                .append("full-context baseline) or SAC-compressed at 5x / 15x / 51x, training-free, ")
                .append(rs.getFirst().param("threads")).append(" threads. The context is built once in setup, outside the ")
                .append("measurement. `first`: the question's prefill over the cached rows up to the first answer token (the ")
                .append("cost of attending to the context); `answer16`: at most 16 answer tokens. Cells: mean ± 99.9% CI, then ")
                .append("the speed-up over the full context of the same n from the same run (ratio of means). Measured: ")
                .append(hows(rs)).append(". ")
                .append("An adapter would add one [LM] row to the question and change nothing else in the decoder's work.\n");
        for (String model : MODELS) {
            for (String metric : new String[]{"first", "answer16"}) {
                List<Result> m = rs.stream().filter(r -> r.param("model").equals(model) && metric(r).equals(metric)).toList();
                if (m.isEmpty()) continue;
                b.append("\n`").append(metric).append("`, ").append(modelName(model)).append(" (").append(unit(m.getFirst())).append("):\n\n");
                b.append("| n (tokens) | full context | 5x | 15x | 51x |\n|---:|---:|---:|---:|---:|\n");
                for (String n : m.stream().map(r -> r.param("tokens")).distinct().sorted((x, y) -> Integer.parseInt(x) - Integer.parseInt(y)).toList()) {
                    Result full = ask(m, n, 1);
                    b.append("| ").append(n);
                    for (int ratio : ratios) {
                        Result r = ask(m, n, ratio);
                        b.append(" | ");
                        if (r == null) {
                            b.append("n/a");
                            continue;
                        }
                        b.append(meanCi(r));
                        if (ratio != 1 && full != null) b.append(" (").append(ratio(full.score() / r.score())).append(")");
                    }
                    b.append(" |\n");
                }
            }
        }
    }

    /** AskBench.eight / eight1B: eight questions answered one after the other vs together. */
    private static void renderEight(StringBuilder b, List<Result> results) {
        List<Result> rs = results.stream().filter(r -> r.benchmark().contains("AskBench.") && metric(r).equals("eight")).toList();
        if (rs.isEmpty()) return;
        b.append("\n## Many questions over one context (AskBench.eight)\n\n");
        b.append("Eight questions (\"What did the machine dream of? 1?\" ... \" 8?\"), at most 16 answer tokens each, over ")
                .append("2,048 encoder ids SAC-compressed at 15x, training-free, ").append(rs.getFirst().param("threads"))
                .append(" threads: `alone`, one `Sac.answer` after the other; `together`, one `Sac.answerAll` (each decoding ")
                .append("step runs one row per unfinished question, so every weight is read once per step for all of them; ")
                .append("the answers are the same, bit for bit). Each question's prompt (its prefill, already a GEMM of many rows) runs ")
                .append("alone in both modes, so the speed-up grows with the answers' length. Measured: ").append(hows(rs)).append(".\n\n");
        b.append("| model | alone | together | speed-up |\n|---|---:|---:|---:|\n");
        for (String model : MODELS) {
            Result alone = null, together = null;
            for (Result r : rs) {
                if (!r.param("model").equals(model)) continue;
                if (r.param("mode").equals("alone")) alone = r;
                else together = r;
            }
            if (alone == null && together == null) continue;
            b.append("| ").append(modelName(model)).append(" | ").append(alone == null ? "n/a" : meanCi(alone) + " " + unit(alone))
                    .append(" | ").append(together == null ? "n/a" : meanCi(together) + " " + unit(together)).append(" | ")
                    .append(alone == null || together == null ? "n/a" : ratio(alone.score() / together.score())).append(" |\n");
        }
    }

    /** "method: how" for each benchmark method of {@code rs}, in order. */
    private static String hows(List<Result> rs) {
        Map<String, String> by = new LinkedHashMap<>();
        for (Result r : rs) by.putIfAbsent(r.benchmark().substring(r.benchmark().lastIndexOf('.') + 1), r.how());
        List<String> parts = new ArrayList<>();
        by.forEach((m, h) -> parts.add("`" + m + "` " + h));
        return String.join("; ", parts);
    }

    /** "first" for AskBench.first and AskBench.first1B (one metric, two models), else the method name. */
    private static String metric(Result r) {
        String method = r.benchmark().substring(r.benchmark().lastIndexOf('.') + 1);
        return method.endsWith("1B") ? method.substring(0, method.length() - 2) : method;
    }

    private static Result ask(List<Result> rs, String tokens, int ratio) {
        for (Result r : rs) if (r.param("tokens").equals(tokens) && r.param("ratio").equals(String.valueOf(ratio))) return r;
        return null;
    }

    /** "mean ± error", or the mean alone where JMH gives no error (a single iteration). */
    private static String meanCi(Result r) {
        return Double.isNaN(r.error()) ? fmt(r.score()) : fmt(r.score()) + " ± " + fmt(r.error());
    }

    private static String unit(Result r) {
        return r.unit().endsWith("/op") ? r.unit().substring(0, r.unit().length() - 3) : r.unit();
    }

    private static String renderFootprint(List<Map<String, Object>> fps, List<String> missing) {
        if (fps.isEmpty() && missing.isEmpty()) return "";
        StringBuilder b = new StringBuilder("\n## KV bytes and memory (Footprint)\n\n");
        if (!missing.isEmpty()) b.append("Not run (no file): ").append(String.join(", ", missing)).append(".\n\n");
        if (fps.isEmpty()) return b.toString();
        Map<String, Object> first = fps.getFirst();
        b.append("`io.sac4j.bench.Footprint`, one fresh JVM per model (JDK ").append(first.get("jdk")).append(", ")
                .append(first.get("threads")).append(" threads, max heap ").append(bytes(first.get("maxHeap"))).append(").\n\n");
        b.append("KV bytes per context: `CompressedContext.bytes` (anchors x layers x kvDim x 2 x 4 bytes: the CPU cache ")
                .append("holds f32 keys and values). Full = ratio 1, the uncompressed context. On the bundled model every ")
                .append("context is built, and the heap it really keeps is measured (heap after a full GC with the context ")
                .append("held, minus after dropping it) and shown in brackets: a little more than `bytes()`, as the CPU ")
                .append("cache pads each KV head's keys to a multiple of 16 rows. On the 1B model only 4,096 tokens at 15x is ")
                .append("built (by the memory scenario below); building the other 11 would take ~6 minutes of encoder work ")
                .append("for numbers that depend only on the anchor count, so their bytes are `Anchors.count(n, r)` x ")
                .append("`CompressedContext.rowBytes` (the same formula; the built context has exactly that many anchors).\n");
        int[] ratios = {1, 5, 15, 51};
        for (Map<String, Object> fp : fps) {
            String src = String.valueOf(fp.get("model"));
            b.append("\n").append(modelName(src)).append(", kvDim ").append(fp.get("kvDim")).append(":\n\n");
            b.append("| n (tokens) | full | 5x | 15x | 51x |\n|---:|---:|---:|---:|---:|\n");
            List<?> kv = (List<?>) fp.get("kv");
            for (int n : new int[]{512, 2048, 4096}) {
                b.append("| ").append(n);
                for (int ratio : ratios) {
                    b.append(" | ");
                    Map<?, ?> row = null;
                    for (Object o : kv) {
                        Map<?, ?> m = (Map<?, ?>) o;
                        if (((Number) m.get("tokens")).intValue() == n && ((Number) m.get("ratio")).intValue() == ratio) row = m;
                    }
                    if (row == null) {
                        b.append("n/a");
                        continue;
                    }
                    b.append(bytes(row.get("bytes"))).append(" (").append(row.get("anchors")).append(" rows)");
                    if (row.get("heapKept") != null) b.append(" [").append(bytes(row.get("heapKept"))).append("]");
                }
                b.append(" |\n");
            }
        }

        b.append("\nMemory of \"compress a 4,096-token context at 15x and answer one question (at most 16 tokens)\": peaks ")
                .append("from the JVM's start to the end of the answer, model loading included. Heap and buffer pools are ")
                .append("sampled every 5 ms; the heap pools' own peaks are summed as an upper bound (each pool peaks at its ")
                .append("own moment); \"heap after GC\" is the most heap in use right after any GC, the closest to live data. ")
                .append("RSS is the process's VmHWM (JVM, code, heap, weights, everything). The CPU backend keeps ")
                .append("activations and KV caches on the Java heap; weights are off-heap (the bundled model mapped from a ")
                .append("file: the \"mapped\" pool; the 1B model's allocated with `Arena.allocate`, which this JDK does not ")
                .append("count in the \"direct\" pool (checked below), so native allocations are read from Native Memory ")
                .append("Tracking (`-XX:NativeMemoryTracking=summary`, category Other, with its peak)).\n\n");
        b.append("| measure |");
        for (Map<String, Object> fp : fps) b.append(" ").append(fp.get("model")).append(" |");
        b.append("\n|---|");
        b.append("---:|".repeat(fps.size())).append("\n");
        row(b, fps, "load the model (s)", fp -> fmt(num(fp.get("loadSeconds"))));
        row(b, fps, "compress 4,096 tokens at 15x (s)", fp -> fmt(num(sc(fp).get("compressSeconds"))));
        row(b, fps, "answer (s, tokens)", fp -> fmt(num(sc(fp).get("answerSeconds"))) + ", " + sc(fp).get("answerTokens"));
        row(b, fps, "weights (all tensors, off-heap)", fp -> bytes(fp.get("weightBytes")));
        row(b, fps, "after load: heap used / native (NMT Other) / mapped / RSS", fp -> {
            Map<?, ?> a = (Map<?, ?>) fp.get("afterLoad");
            return bytes(a.get("heapUsed")) + " / " + bytes(a.get("nativeOther")) + " / " + bytes(a.get("mapped")) + " / " + bytes(a.get("rss"));
        });
        row(b, fps, "peak heap used (sampled)", fp -> bytes(peak(fp).get("heapUsedSampled")));
        row(b, fps, "peak heap used (sum of pool peaks)", fp -> bytes(peak(fp).get("heapUsedPoolPeaks")));
        row(b, fps, "peak heap after GC", fp -> bytes(peak(fp).get("heapAfterGc")));
        row(b, fps, "peak heap committed", fp -> bytes(peak(fp).get("heapCommitted")));
        row(b, fps, "peak non-heap (metaspace, code cache; pool peaks)", fp -> bytes(peak(fp).get("nonHeapUsedPoolPeaks")));
        row(b, fps, "peak off-heap, native allocations (NMT Other)", fp -> bytes(peak(fp).get("nativeOther")));
        row(b, fps, "peak off-heap, direct pool", fp -> bytes(peak(fp).get("direct")));
        row(b, fps, "peak off-heap, mapped pool", fp -> bytes(peak(fp).get("mapped")));
        row(b, fps, "peak RSS (VmHWM)", fp -> bytes(peak(fp).get("rss")));
        row(b, fps, "KV of the compressed context (bytes() / heap kept)", fp -> bytes(sc(fp).get("kvBytes")) + " / " + bytes(sc(fp).get("contextHeapKept")));

        Map<?, ?> acc = (Map<?, ?>) first.get("accounting");
        if (acc != null) {
            b.append("\nWhat the buffer pools count, checked by this run, not assumed: a ").append(bytes(acc.get("arenaAllocateBytes")))
                    .append(" `Arena.allocate` grew the \"direct\" pool by ").append(bytes(acc.get("directPoolGrowth")))
                    .append(" (").append(counted(acc, "arenaInDirectPool", "directPoolGrowth"))
                    .append("); a ").append(bytes(acc.get("mapBytes"))).append(" `FileChannel.map(..., arena)` grew the \"mapped\" pool by ")
                    .append(bytes(acc.get("mappedPoolGrowth"))).append(" (")
                    .append(counted(acc, "mapInMappedPool", "mappedPoolGrowth")).append(").\n");
        }
        return b.toString();
    }

    private static String counted(Map<?, ?> acc, String ok, String growth) {
        if (Boolean.TRUE.equals(acc.get(ok))) return "counted, and released on close";
        return num(acc.get(growth)) == 0 ? "not counted" : "not exactly counted";
    }

    private static void row(StringBuilder b, List<Map<String, Object>> fps, String label,
                            java.util.function.Function<Map<String, Object>, String> cell) {
        b.append("| ").append(label).append(" |");
        for (Map<String, Object> fp : fps) b.append(" ").append(cell.apply(fp)).append(" |");
        b.append("\n");
    }

    private static Map<?, ?> sc(Map<String, Object> fp) {
        return (Map<?, ?>) fp.get("scenario");
    }

    private static Map<?, ?> peak(Map<String, Object> fp) {
        return (Map<?, ?>) sc(fp).get("peak");
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /**
     * Bytes in binary units, 3 significant digits: 8.00 MiB, 20.0 KiB, 2.47 GiB; -1 = not measured (no /proc). A
     * measured difference may be slightly negative (noise), and is shown so.
     */
    private static String bytes(Object o) {
        if (!(o instanceof Number n) || n.longValue() == -1) return "n/a";
        double v = n.doubleValue();
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        int u = 0;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n.longValue() + " B" : String.format(Locale.ROOT, Math.abs(v) >= 100 ? "%.0f %s" : Math.abs(v) >= 10 ? "%.1f %s" : "%.2f %s", v, units[u]);
    }

    /** The result of that benchmark with that type parameter (any, for a null type). */
    private static Result find(List<Result> results, String benchmark, String type) {
        for (Result r : results) if (r.benchmark().endsWith(benchmark) && (type == null || r.param("type").equals(type))) return r;
        return null;
    }

    private static double seconds(Result r, double time) {
        return switch (r.unit()) {
            case "s/op" -> time;
            case "ms/op" -> time / 1e3;
            case "us/op" -> time / 1e6;
            default -> throw new IllegalArgumentException("unexpected unit " + r.unit() + " for " + r.benchmark());
        };
    }

    private static String fmt(double v) {
        if (Double.isNaN(v)) return "n/a";
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }

    private static String pct(double v) {
        return String.format(Locale.ROOT, "%.0f%%", 100 * v);
    }

    private static String ratio(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.2fx", v);
    }
}
