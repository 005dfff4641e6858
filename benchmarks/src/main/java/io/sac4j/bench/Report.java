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
 * tokens per second for ForwardBench, each against the machine's limits and llama.cpp's figures.
 * <p>
 * Usage: Report jmh.json RESULTS.md key=value... where keys are cpu, cores, flags, date, load_before, load_after.
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
    private record Result(String benchmark, Map<String, Object> params, double score, double error, double best, String unit) {
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
                    Json.string(metric, "scoreUnit", "", json.toString())));
            jdk = Json.string(r, "jdkVersion", "?", json.toString()) + " (" + Json.string(r, "vmName", "", json.toString())
                    + " " + Json.string(r, "vmVersion", "", json.toString()) + ")";
        }
        Files.writeString(out, render(results, jdk, info));
    }

    private static String render(List<Result> results, String jdk, Map<String, String> info) {
        StringBuilder b = new StringBuilder();
        String threads = results.isEmpty() ? "?" : results.get(0).param("threads");
        b.append("# sac4j CPU benchmarks\n\n");
        b.append("Written by `benchmarks/run.sh` (JMH, see `benchmarks/src`) on ").append(info.getOrDefault("date", "?")).append(".\n\n");
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
        boolean header = false;
        for (Result r : results) {
            if (r.benchmark().endsWith("GemmBench.matmul") || r.benchmark().contains("ForwardBench.")) continue;
            if (!header) {
                b.append("\n## Other benchmarks\n\n| benchmark | parameters | score (mean ± 99.9% CI) | best iteration | unit |\n|---|---|---:|---:|---|\n");
                header = true;
            }
            String name = r.benchmark().substring(r.benchmark().lastIndexOf('.', r.benchmark().lastIndexOf('.') - 1) + 1);
            b.append("| ").append(name).append(" | ").append(r.params().toString().replaceAll("[{}]", "")).append(" | ")
                    .append(fmt(r.score())).append(" ± ").append(fmt(r.error())).append(" | ").append(fmt(r.best()))
                    .append(" | ").append(r.unit()).append(" |\n");
        }
        b.append("\nRaw JMH output: `benchmarks/target/jmh.json` and `benchmarks/target/jmh.log` of the run.\n");
        return b.toString();
    }

    private static Result find(List<Result> results, String benchmark, String type) {
        for (Result r : results) if (r.benchmark().endsWith(benchmark) && r.param("type").equals(type)) return r;
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
