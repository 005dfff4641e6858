package io.sac4j.compress;

import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The whole SAC pipeline against scripts/reference/ref_sac.py (an independent float64 PyTorch implementation of
 * SAC.md): for every ratio (5, 15, 51) and context length (1, off, off+1, 509, 510, 511, 1020, 1021, 2100 tokens),
 * with a random adapter and training-free, plus the ablations and baselines, on the bundled llama2.c model and two
 * random Hugging Face models. Anchor K/V (a sample of rows and per-layer sums over all) and the first three steps'
 * logits must agree to 1e-4, the greedy answers exactly.
 */
class SacReferenceTest {
    static final double TOLERANCE = 1e-4;

    @Test
    void bundledModel() throws IOException {
        SacFixture f = SacFixture.read("aidreams260K");
        checkWeightsFile(f, Path.of("src", "main", "resources", "io", "sac4j", "models", "aidreams260K.bin"));
        try (Model m = Model.bundled()) {
            check(f, m);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa-untied", "qwen2-gqa-tied"})
    void huggingFaceModel(String name) throws IOException {
        SacFixture f = SacFixture.read(name);
        checkWeightsFile(f, SacFixture.MODELS.resolve(name).resolve("model.safetensors"));
        try (Model m = Model.open(SacFixture.MODELS.resolve(name), null)) {
            check(f, m);
        }
    }

    /** A fixture is only valid for the weights it was computed from. */
    private static void checkWeightsFile(SacFixture f, Path weights) throws IOException {
        assertEquals(f.weightsSha256(), Fingerprint.sha256Hex(Files.readAllBytes(weights)),
                weights + " changed since fixtures/sac/" + f.model() + ".json was made: rerun scripts/reference/ref_sac.py");
    }

    private static void check(SacFixture f, Model model) {
        assertArrayEquals(f.eos(), model.config().eosIds(), f.model() + ": EOS ids of the reference");
        assertEquals(f.vocab(), model.config().vocabSize());
        Map<String, Sac> sacs = new HashMap<>();
        // one thread: these models are so small that hand-offs to a pool cost more than they save
        try (CpuBackend be = new CpuBackend(1)) {
            for (SacFixture.Case c : f.cases()) {
                Sac sac = sacs.computeIfAbsent(c.adapter() == null ? "" : c.adapter(), a -> open(model, a, be));
                checkCase(f, sac, c);
            }
        } finally {
            sacs.values().forEach(Sac::close);
        }
    }

    /** The .pt (torch.save, as published) is used; the .safetensors copy must hold the same values. */
    private static Sac open(Model model, String adapter, CpuBackend be) {
        if (adapter.isEmpty()) return Sac.open(model, null, be);
        SacAdapter pt = SacAdapter.load(SacFixture.adapter(adapter, ".pt"), model.config());
        SacAdapter st = SacAdapter.load(SacFixture.adapter(adapter, ".safetensors"), model.config());
        assertEquals(pt.fingerprint(), st.fingerprint(), adapter + ": .pt and .safetensors differ");
        return Sac.open(model, pt, be);
    }

    private static void checkCase(SacFixture f, Sac sac, SacFixture.Case c) {
        String what = f.model() + " " + c.name();
        int[] ids = Arrays.copyOf(f.contextIds(), c.n());
        CompressedContext ctx = switch (c.mode()) {
            case "sac", "training_free" -> sac.compress(ids, c.ratio());
            case "causal_encoder" -> sac.compress(ids, c.ratio(), CompressOptions.DEFAULT.withCausalEncoder(true));
            case "no_anchor_embedding" -> sac.compress(ids, c.ratio(), CompressOptions.DEFAULT.withNoAnchorEmbedding(true));
            case "random_anchors" -> sac.compress(ids, c.ratio(), CompressOptions.DEFAULT.withRandomAnchors(c.seed()));
            case "full" -> sac.fullContext(ids);
            case "first" -> sac.truncated(ids, c.ratio(), Sac.Keep.FIRST);
            case "last" -> sac.truncated(ids, c.ratio(), Sac.Keep.LAST);
            default -> throw new AssertionError(what + ": unknown mode " + c.mode());
        };
        assertEquals(c.n(), ctx.contextTokens(), what);
        if (c.compressed()) {
            int[][] chosen = c.seed() != null ? Anchors.random(c.n(), c.ratio(), c.seed()) : Anchors.uniform(c.n(), c.ratio());
            assertArrayEquals(c.anchors(), Anchors.flatten(chosen), what + ": anchor indices");
            assertEquals(c.anchors().length, ctx.anchors(), what + ": anchors kept");
            assertEquals(c.mode().equals("training_free") ? CompressedContext.Kind.TRAINING_FREE : CompressedContext.Kind.SAC, ctx.kind());
            checkKv(f, c, ctx, what);
        } else {
            assertEquals(c.kept(), ctx.anchors(), what + ": tokens kept");
            assertEquals(CompressedContext.Kind.PLAIN, ctx.kind());
        }
        Answer a = sac.answer(ctx, f.questionIds(), AnswerOptions.DEFAULT.withMaxNewTokens(f.maxNewTokens())
                .withKeepLogits(f.logitSteps()));
        int steps = c.logits().length / f.vocab();
        assertEquals(steps, a.logits().size(), what + ": decoding steps with logits");
        for (int s = 0; s < steps; s++)
            assertClose(what + " logits of step " + s, Arrays.copyOfRange(c.logits(), s * f.vocab(), (s + 1) * f.vocab()), a.logits().get(s));
        assertArrayEquals(c.answerIds(), a.ids(), what + ": greedy answer");
        assertEquals(c.stop().equals("eos") ? Answer.Stop.EOS : Answer.Stop.MAX_TOKENS, a.stop(), what + ": stop reason");
    }

    private static void checkKv(SacFixture f, SacFixture.Case c, CompressedContext ctx, String what) {
        int kvDim = f.kvDim(), rows = c.kvRows().length;
        for (int l = 0; l < f.layers(); l++) {
            float[][] kv = ctx.cache().ownRows(l);
            assertEquals(c.anchors().length * kvDim, kv[0].length, what + ": K rows of layer " + l);
            for (int i = 0; i < rows; i++) {
                int row = c.kvRows()[i];
                for (int t = 0; t < 2; t++) {
                    int at = ((i * f.layers() + l) * 2 + t) * kvDim;
                    assertClose(what + " " + (t == 0 ? "K" : "V") + " of anchor " + row + ", layer " + l,
                            Arrays.copyOfRange(c.kv(), at, at + kvDim), Arrays.copyOfRange(kv[t], row * kvDim, (row + 1) * kvDim));
                }
            }
            // sums over every anchor row: each of up to ~26k values may differ by float rounding
            double[] sums = {sum(kv[0], false), sum(kv[1], false), sum(kv[0], true), sum(kv[1], true)};
            for (int s = 0; s < 4; s++) {
                double want = c.kvSums()[l][s], tol = TOLERANCE + 1e-6 * c.kvSums()[l][2 + s % 2];
                if (Math.abs(sums[s] - want) > tol)
                    fail(String.format("%s: layer %d sum #%d = %.6f, reference %.6f (tolerance %.1e)", what, l, s, sums[s], want, tol));
            }
        }
    }

    private static double sum(float[] v, boolean abs) {
        double s = 0;
        for (float x : v) s += abs ? Math.abs(x) : x;
        return s;
    }

    static void assertClose(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what + ": length");
        double worst = 0;
        int at = 0;
        for (int i = 0; i < want.length; i++) {
            double d = Float.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Double.POSITIVE_INFINITY;
            if (d > worst) {
                worst = d;
                at = i;
            }
        }
        final double w = worst;
        final int i = at;
        assertTrue(worst <= TOLERANCE, () -> String.format("%s: max |diff| %.3g at %d: got %.7f, reference %.7f",
                what, w, i, got[i], want[i]));
    }
}
