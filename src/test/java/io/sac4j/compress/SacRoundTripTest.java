package io.sac4j.compress;

import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** compress -> save -> load -> answer gives bit-identical answers (ids and logits) to answering the in-memory context. */
class SacRoundTripTest {
    private static final String CONTEXT = "Echoes of vectors unfold, a gentle hum of precision. ".repeat(25);

    @Test
    void savedAndLoadedContextsAnswerBitIdentically(@TempDir Path tmp) throws Exception {
        Path adapterFile = Path.of("src/test/resources/fixtures/sac/adapters/aidreams260K-r5.pt");
        try (Model model = Model.bundled(); CpuBackend backend = new CpuBackend(2)) {
            for (SacAdapter adapter : new SacAdapter[]{SacAdapter.load(adapterFile, model.config()), null}) {
                try (Sac sac = Sac.open(model, adapter, backend)) {
                    CompressedContext ctx = sac.compress(CONTEXT, 5);
                    assertTrue(ctx.contextTokens() > 510, "spans chunks: " + ctx.contextTokens());
                    Path file = tmp.resolve(adapter == null ? "free.sac" : "sac.sac");
                    SacFile.save(file, ctx, model.config());
                    CompressedContext loaded = SacFile.load(file, backend, model.config(), sac.modelFingerprint(), sac.adapterFingerprint());
                    assertEquals(ctx.kind(), loaded.kind());
                    AnswerOptions opts = AnswerOptions.DEFAULT.withMaxNewTokens(20).withKeepLogits(20);
                    for (String q : new String[]{"What unfolds?", "What hums?"}) {
                        Answer a = sac.answer(ctx, q, opts), b = sac.answer(loaded, q, opts);
                        assertArrayEquals(a.ids(), b.ids(), q);
                        assertEquals(a.text(), b.text());
                        assertEquals(a.logits().size(), b.logits().size());
                        assertTrue(a.logits().size() > 0);
                        for (int i = 0; i < a.logits().size(); i++)
                            assertArrayEquals(a.logits().get(i), b.logits().get(i), 0f, "step " + i + " logits must be bit-identical");
                    }
                }
            }
        }
    }
}
