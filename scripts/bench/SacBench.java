// sac4j on the same model files as the peers, measured exactly as llama_bench.mjs and torch_bench.py measure
// them: prefill of P prompt tokens (i * 7919 + 13) % vocab at positions 0..P-1 in one call (logits of the last row),
// then D single-token decode steps after that prompt, each computing its logits and taking the greedy next token.
// With --greedy K it also reports the greedy next token after each of the prompts made of the first 8, 16, ..., 8K
// pattern tokens, the prompt's last token excluded (the peers report the same, so the table can say whether the
// engines agree; random tied-embedding models mostly echo their input, the runner-up depends on the layers).
// Prints one JSON object on stdout. A single-file program, run against the CLI jar:
//
//   java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/sac4j-cli.jar \
//        scripts/bench/SacBench.java MODEL [--threads 2] [--prompt 512] [--decode 64] [--reps 3] [--warmup 1]
//
// (benchmarks/ has the JMH suite; this only exists so that every engine reads the same file.)
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public class SacBench {
    public static void main(String[] args) {
        String model = null;
        int threads = 2, prompt = 512, decode = 64, reps = 3, warmup = 1, greedyChecks = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--prompt" -> prompt = Integer.parseInt(args[++i]);
                case "--decode" -> decode = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--greedy" -> greedyChecks = Integer.parseInt(args[++i]);
                default -> {
                    if (model != null || args[i].startsWith("-")) throw new IllegalArgumentException("unknown argument " + args[i]);
                    model = args[i];
                }
            }
        }
        if (model == null) throw new IllegalArgumentException("usage: SacBench MODEL [--threads N] [--prompt P] [--decode D] [--reps R]");
        try (Model m = Model.open(Path.of(model), null); CpuBackend backend = new CpuBackend(threads)) {
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
                    model.replace("\\", "\\\\").replace("\"", "\\\""), m.weights().layers()[0].wq().type(), backend.name(),
                    Runtime.version(), threads, prompt, decode, reps, prefill, dec, prompt / median(prefill),
                    decode == 0 ? "null" : String.format(Locale.ROOT, "%.6f", decode / median(dec)), greedy);
        }
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
