package io.sac4j.forward;

import io.sac4j.load.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reads the logits fixtures that scripts/reference/ref_llama.py writes, and compares forward results to them. */
final class ReferenceFixture {
    static final Path FIXTURES = Path.of("src", "test", "resources", "fixtures");
    static final double TOLERANCE = 1e-4;

    private ReferenceFixture() {
    }

    /**
     * One forward call of the reference: {@code cache} is "new" or the name of an earlier run whose cache it
     * continues; {@code logits[i]} are the reference logits of row {@code rows[i]}.
     */
    record Run(String name, String cache, Mask mask, int[] tokens, int[] positions, int[] rows, float[][] logits) {
    }

    static Map<String, Object> read(Path file) {
        try {
            return Json.parseObject(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @SuppressWarnings("unchecked")
    static List<Run> runs(Path file) {
        List<Run> out = new ArrayList<>();
        for (Object o : (List<Object>) read(file).get("runs")) {
            Map<String, Object> r = (Map<String, Object>) o;
            String mask = (String) r.get("mask");
            Mask m = switch (mask) {
                case "causal" -> Mask.causal();
                case "blocks" -> Mask.blocks(((Number) r.get("block")).intValue());
                default -> throw new IllegalArgumentException(file + ": unknown mask " + mask);
            };
            out.add(new Run((String) r.get("name"), (String) r.get("cache"), m, ints(r.get("tokens")),
                    ints(r.get("positions")), ints(r.get("rows")), floats2(r.get("logits"))));
        }
        return out;
    }

    static Run run(List<Run> runs, String name) {
        return runs.stream().filter(r -> r.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no run " + name + " in the fixture"));
    }

    @SuppressWarnings("unchecked")
    static int[] ints(Object o) {
        List<Object> l = (List<Object>) o;
        int[] a = new int[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = ((Number) l.get(i)).intValue();
        return a;
    }

    @SuppressWarnings("unchecked")
    static float[] floats(Object o) {
        List<Object> l = (List<Object>) o;
        float[] a = new float[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = ((Number) l.get(i)).floatValue();
        return a;
    }

    @SuppressWarnings("unchecked")
    static float[][] floats2(Object o) {
        List<Object> l = (List<Object>) o;
        float[][] a = new float[l.size()][];
        for (int i = 0; i < a.length; i++) a[i] = floats(l.get(i));
        return a;
    }

    /**
     * Asserts that rows {@code rows} of {@code got} ([tokens][vocab]) are within {@link #TOLERANCE} of
     * {@code expected} (one reference row per entry of rows) and returns the largest difference.
     */
    static double assertLogits(String what, float[] got, int vocab, int[] tokens, int[] positions, int[] rows,
                               float[][] expected) {
        assertEquals((long) tokens.length * vocab, got == null ? -1 : got.length, what + ": logits length");
        double worst = -1;
        int wi = 0, wv = 0;
        for (int i = 0; i < rows.length; i++) {
            float[] ref = expected[i];
            assertEquals(vocab, ref.length, what + ": reference row length");
            for (int v = 0; v < vocab; v++) {
                float g = got[rows[i] * vocab + v];
                double d = Float.isFinite(g) ? Math.abs(g - ref[v]) : Double.POSITIVE_INFINITY;
                if (d > worst) {
                    worst = d;
                    wi = i;
                    wv = v;
                }
            }
        }
        int r = rows[wi];
        final double w = worst;
        final int fwi = wi, fwv = wv;
        assertTrue(worst <= TOLERANCE, () -> String.format(
                "%s: max |logit - reference| = %.3g > %.0e at row %d (token %d, position %d), vocab id %d: got %.6f, reference %.6f",
                what, w, TOLERANCE, r, tokens[r], positions[r], fwv, got[r * vocab + fwv], expected[fwi][fwv]));
        System.out.printf("%s: max |diff| %.2e over %d rows%n", what, worst, rows.length);
        return worst;
    }
}
