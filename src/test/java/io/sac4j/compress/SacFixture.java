package io.sac4j.compress;

import io.sac4j.load.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * The SAC reference fixtures written by scripts/reference/ref_sac.py (fixtures/sac/<model>.json): shared context and
 * question ids, and per case the anchors, a sample of the anchors' K/V with per-layer sums over all of them, the
 * first decoding steps' logits and the greedy answer. Float arrays are base64 of little-endian float32.
 */
record SacFixture(String model, String source, String weightsSha256, int[] eos, int maxNewTokens, int logitSteps, int layers, int kvDim,
                  int vocab, int[] contextIds, int[] questionIds, List<Case> cases) {
    static final Path DIR = Path.of("src", "test", "resources", "fixtures", "sac");
    static final Path MODELS = Path.of("src", "test", "resources", "fixtures", "models");

    /**
     * One reference case. {@code mode}: sac, training_free, causal_encoder, no_anchor_embedding, random_anchors (all
     * compressed; kv fields set) or full, first, last (baselines; {@code kept} set). {@code kv} is
     * [kvRows.length][layers][2][kvDim]; {@code kvSums} per layer [sum K, sum V, sum |K|, sum |V|].
     */
    record Case(String name, String mode, int ratio, int n, String adapter, Long seed, int[] anchors, int[] kvRows,
                float[] kv, double[][] kvSums, int kept, float[] logits, int[] answerIds, String stop) {
        boolean compressed() {
            return anchors != null;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static SacFixture read(String model) {
        Path file = DIR.resolve(model + ".json");
        Map<String, Object> m;
        try {
            m = Json.parseObject(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Case> cases = new ArrayList<>();
        for (Object o : list(m.get("cases"))) {
            @SuppressWarnings("unchecked") Map<String, Object> c = (Map<String, Object>) o;
            boolean compressed = c.containsKey("anchors");
            List<Object> sums = compressed ? list(c.get("kv_sums")) : List.of();
            double[][] kvSums = new double[sums.size()][];
            for (int l = 0; l < kvSums.length; l++)
                kvSums[l] = list(sums.get(l)).stream().mapToDouble(x -> ((Number) x).doubleValue()).toArray();
            cases.add(new Case((String) c.get("name"), (String) c.get("mode"), num(c.get("ratio")), num(c.get("n")),
                    (String) c.get("adapter"), c.get("seed") == null ? null : ((Number) c.get("seed")).longValue(),
                    compressed ? ints(c.get("anchors")) : null, compressed ? ints(c.get("kv_rows")) : null,
                    compressed ? floats(c.get("kv")) : null, kvSums, c.get("kept") == null ? -1 : num(c.get("kept")),
                    floats(c.get("logits")), ints(c.get("answer_ids")), (String) c.get("stop")));
        }
        return new SacFixture((String) m.get("model"), (String) m.get("source"), (String) m.get("weights_sha256"), ints(m.get("eos")),
                num(m.get("max_new_tokens")), num(m.get("logit_steps")), num(m.get("layers")), num(m.get("kv_dim")),
                num(m.get("vocab")), ints(m.get("context_ids")), ints(m.get("question_ids")), cases);
    }

    /** Path of an adapter named in a case ("adapters/<model>-r<ratio>"), with its extension. */
    static Path adapter(String name, String extension) {
        return DIR.resolve(name + extension);
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        return (List<Object>) o;
    }

    private static int num(Object o) {
        return ((Number) o).intValue();
    }

    static int[] ints(Object o) {
        return list(o).stream().mapToInt(x -> ((Number) x).intValue()).toArray();
    }

    static float[] floats(Object o) {
        ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode((String) o)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }
}
