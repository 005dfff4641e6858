// sac4j on the same model files as the peers, measured exactly as llama_bench.mjs and torch_bench.py measure
// them: prefill of P prompt tokens (i * 7919 + 13) % vocab at positions 0..P-1 in one call (logits of the last row),
// then D single-token decode steps after that prompt, each computing its logits and taking the greedy next token.
// With --greedy K it also reports the greedy next token after each of the prompts made of the first 8, 16, ..., 8K
// pattern tokens, the prompt's last token excluded (the peers report the same, so the table can say whether the
// engines agree; random tied-embedding models mostly echo their input, the runner-up depends on the layers).
//
// With --sac-context N it measures the SAC work instead (training-free SAC, no adapter), on context ids
// [BOS] + pattern tokens 1..N-1 and a question of Q pattern tokens N..N+Q-1:
//   compress  Sac.compress(ids, --compress-ratio) (15; 0 skips it): N / the median time = tokens/s;
//   ask       time of Sac.answer(ctx, question, 1 new token) over the context held in full (ratio 1 in
//             --ask-ratios: Sac.fullContext, positions 0.., the question at N..) or compressed at each other ratio
//             (the question at N+1.. over the anchor rows); building the contexts is not timed. It also reports
//             each ratio's first answer token, the question's last token excluded (as --greedy does).
// Prints one JSON object on stdout. A single-file program, run against the CLI jar:
//
//   java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/sac4j-cli.jar \
//        scripts/bench/SacBench.java MODEL [--device cpu|cuda] [--threads 2] [--prompt 512] [--decode 64] [--reps 3]
//        [--warmup 1] [--greedy K] [--sac-context N [--compress-ratio 15] [--ask-ratios 1,5,15,51] [--question 16]]
// --device cuda measures the CUDA backend (scripts/gpu/run_all.sh runs it compiled, as the GPU machine's small
// Java runtime cannot compile sources); the timings then include copying each step's logits to the host, which
// every caller of the library pays too.
//
// (benchmarks/ has the JMH suite; this only exists so that every engine reads the same file.)
import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Backends;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

public class SacBench {
    public static void main(String[] args) {
        String model = null, device = "cpu";
        int threads = 2, prompt = 512, decode = 64, reps = 3, warmup = 1, greedyChecks = 0;
        int sacContext = 0, compressRatio = 15, question = 16;
        int[] askRatios = {1, 5, 15, 51};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> device = args[++i];
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--prompt" -> prompt = Integer.parseInt(args[++i]);
                case "--decode" -> decode = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--greedy" -> greedyChecks = Integer.parseInt(args[++i]);
                case "--sac-context" -> sacContext = Integer.parseInt(args[++i]);
                case "--compress-ratio" -> compressRatio = Integer.parseInt(args[++i]);
                case "--question" -> question = Integer.parseInt(args[++i]);
                case "--ask-ratios" -> {
                    String v = args[++i];
                    askRatios = v.isEmpty() ? new int[0] : Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
                }
                default -> {
                    if (model != null || args[i].startsWith("-")) throw new IllegalArgumentException("unknown argument " + args[i]);
                    model = args[i];
                }
            }
        }
        if (model == null) throw new IllegalArgumentException("usage: SacBench MODEL [--threads N] [--prompt P] [--decode D] [--reps R]");
        if (reps < 1 || warmup < 0) throw new IllegalArgumentException("--reps must be >= 1 and --warmup >= 0");
        try (Model m = Model.open(Path.of(model), null); Backend backend = Backends.create(device, threads)) {
            if (sacContext > 0) {
                if (question < 1) throw new IllegalArgumentException("--question must be >= 1");
                sacWork(model, m, backend, threads, sacContext, compressRatio, askRatios, question, reps, warmup);
                return;
            }
            Llama llama = new Llama(m, backend);
            int vocab = m.config().vocabSize();
            int[] tokens = new int[prompt], positions = new int[prompt];
            for (int i = 0; i < prompt; i++) {
                tokens[i] = (int) ((i * 7919L + 13) % vocab);
                positions[i] = i;
            }
            List<Integer> greedy = new ArrayList<>();
            for (int k = 1; k <= greedyChecks; k++) {
                int n = 8 * k;
                int[] t = new int[n], pos = new int[n];
                for (int i = 0; i < n; i++) {
                    t[i] = (int) ((i * 7919L + 13) % vocab);
                    pos[i] = i;
                }
                float[] logits = llama.forward(t, pos, llama.newCache(n), Mask.causal(), Logits.LAST);
                logits[t[n - 1]] = Float.NEGATIVE_INFINITY;
                greedy.add(argmax(logits));
            }
            List<Double> prefill = new ArrayList<>(), dec = new ArrayList<>();
            for (int rep = -warmup; rep < reps; rep++) {
                KvCache cache = llama.newCache(prompt + decode);
                long t0 = System.nanoTime();
                float[] logits = llama.forward(tokens, positions, cache, Mask.causal(), Logits.LAST);
                double p = (System.nanoTime() - t0) * 1e-9;
                t0 = System.nanoTime();
                for (int i = 0; i < decode; i++) {
                    logits = llama.forward(new int[]{argmax(logits)}, new int[]{prompt + i}, cache, Mask.causal(), Logits.LAST);
                }
                double d = (System.nanoTime() - t0) * 1e-9;
                if (rep >= 0) {
                    prefill.add(p);
                    dec.add(d);
                }
            }
            System.out.printf(Locale.ROOT, "{\"engine\":\"sac4j\",\"model\":\"%s\",\"weights\":\"%s\",\"backend\":\"%s\","
                            + "\"java\":\"%s\",\"threads\":%d,\"prompt_tokens\":%d,\"decode_tokens\":%d,\"reps\":%d,"
                            + "\"prefill_seconds\":%s,\"decode_seconds\":%s,\"prefill_tokens_per_second\":%.6f,"
                            + "\"decode_tokens_per_second\":%s,\"greedy\":%s}%n",
                    jsonString(model), m.weights().layers()[0].wq().type(), backend.name(),
                    Runtime.version(), threads, prompt, decode, reps, prefill, dec, prompt / median(prefill),
                    decode == 0 ? "null" : String.format(Locale.ROOT, "%.6f", decode / median(dec)), greedy);
        }
    }

    /** The SAC work (see the header): compress tokens/s, then the ask latency of each ratio. */
    private static void sacWork(String file, Model m, Backend backend, int threads, int n, int compressRatio, int[] askRatios,
                                int question, int reps, int warmup) {
        ModelConfig c = m.config();
        int vocab = c.vocabSize();
        int[] ids = new int[n], q = new int[question];
        for (int i = 0; i < n; i++) ids[i] = (int) ((i * 7919L + 13) % vocab);
        if (c.bosId() >= 0) ids[0] = c.bosId();
        for (int j = 0; j < question; j++) q[j] = (int) (((long) (n + j) * 7919L + 13) % vocab);
        AnswerOptions firstToken = new AnswerOptions(1, 1, null);
        List<Double> compress = new ArrayList<>();
        Map<Integer, List<Double>> ask = new LinkedHashMap<>();
        Map<Integer, Integer> rows = new LinkedHashMap<>(), greedy = new LinkedHashMap<>();
        try (Sac sac = Sac.open(m, null, backend)) {
            CompressedContext last = null;
            if (compressRatio > 0) {
                for (int rep = -warmup; rep < reps; rep++) {
                    long t0 = System.nanoTime();
                    last = sac.compress(ids, compressRatio);
                    double s = (System.nanoTime() - t0) * 1e-9;
                    if (rep >= 0) compress.add(s);
                }
            }
            for (int r : askRatios) {
                // the compress runs above already made the context of their ratio: the encoder is deterministic
                CompressedContext ctx = r == 1 ? sac.fullContext(ids) : r == compressRatio && last != null ? last
                        : sac.compress(ids, r);
                List<Double> times = new ArrayList<>();
                for (int rep = -warmup; rep < reps; rep++) {
                    long t0 = System.nanoTime();
                    Answer a = sac.answer(ctx, q, firstToken);
                    double s = (System.nanoTime() - t0) * 1e-9;
                    if (rep >= 0) times.add(s);
                    if (rep == -warmup) {
                        float[] logits = a.logits().getFirst().clone();
                        logits[q[question - 1]] = Float.NEGATIVE_INFINITY;
                        greedy.put(r, argmax(logits));
                    }
                }
                ask.put(r, times);
                rows.put(r, ctx.anchors());
            }
        }
        System.out.printf(Locale.ROOT, "{\"engine\":\"sac4j\",\"work\":\"sac\",\"model\":\"%s\",\"weights\":\"%s\","
                        + "\"backend\":\"%s\",\"java\":\"%s\",\"threads\":%d,\"context_tokens\":%d,\"question_tokens\":%d,"
                        + "\"bos\":%d,\"reps\":%d,\"compress_ratio\":%d,\"compress_seconds\":%s,"
                        + "\"compress_tokens_per_second\":%s,\"ask_seconds\":%s,\"ask_ms\":%s,\"ask_rows\":%s,"
                        + "\"ask_greedy\":%s}%n",
                jsonString(file), m.weights().layers()[0].wq().type(), backend.name(), Runtime.version(),
                threads, n, question, ids[0], reps, compressRatio, compress,
                compress.isEmpty() ? "null" : String.format(Locale.ROOT, "%.6f", n / median(compress)),
                jsonMap(ask, List::toString), jsonMap(ask, t -> String.format(Locale.ROOT, "%.6f", 1e3 * median(t))),
                jsonMap(rows, String::valueOf), jsonMap(greedy, String::valueOf));
    }

    private static <V> String jsonMap(Map<Integer, V> m, java.util.function.Function<V, String> value) {
        return m.entrySet().stream().map(e -> "\"" + e.getKey() + "\":" + value.apply(e.getValue()))
                .collect(Collectors.joining(",", "{", "}"));
    }

    private static String jsonString(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
