package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import io.sac4j.tokenize.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Awkward runtime input to the library, each with a clear error or the documented behaviour (README, "Security and
 * limits"): empty and one-token contexts work; questions longer than the model's window are refused, contexts longer
 * than it are not (SAC compresses them chunk by chunk); ratios below 1 are refused; text that is not valid Unicode
 * (unpaired surrogates, e.g. from bytes decoded leniently) is tokenized as '?' like Java's UTF-8 encoder does; NUL is
 * an ordinary character.
 */
class BadRuntimeInputTest {
    static Model model;
    static CpuBackend backend;
    static Sac free, withAdapter;

    @BeforeAll
    static void open() {
        model = Model.bundled();
        backend = new CpuBackend(1);
        free = Sac.open(model, null, backend);
        withAdapter = Sac.open(model, SacAdapter.load(SacFixture.adapter("adapters/aidreams260K-r5", ".safetensors"),
                model.config()), backend);
    }

    @AfterAll
    static void close() {
        free.close();
        withAdapter.close();
        backend.close();
        model.close();
    }

    static SacException refused(org.junit.jupiter.api.function.Executable call, String part) {
        SacException e = assertThrows(SacException.class, call);
        assertTrue(e.getMessage().contains(part), () -> "\"" + e.getMessage() + "\" lacks \"" + part + "\"");
        assertEquals(-1, e.getMessage().indexOf('\n'));
        return e;
    }

    static final AnswerOptions SHORT = AnswerOptions.DEFAULT.withMaxNewTokens(3);

    @Test
    void emptyContextIsTheTemplateAlone() {
        int n = free.contextIds("").length;
        assertEquals(1 + model.tokenizer().encode(Sac.CONTEXT_PREFIX).length, n);
        for (Sac s : new Sac[]{free, withAdapter}) {
            CompressedContext c = s.compress("", 5);
            assertEquals(n, c.contextTokens());
            assertEquals(Anchors.count(n, 5), c.anchors());
            s.answer(c, "What?", SHORT);
        }
        assertEquals(n, free.fullContext("").anchors());
        assertEquals(Anchors.count(n, 5), free.truncated("", 5, Sac.Keep.LAST).anchors());
        // no ids at all is the one thing that cannot be compressed
        refused(() -> free.compress(new int[0], 5), "context ids: empty");
        refused(() -> free.fullContext(new int[0]), "context ids: empty");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 5, 15, 51, 509, 510, 511, Integer.MAX_VALUE})
    void oneTokenContextKeepsOneRow(int ratio) {
        int[] bos = {model.config().bosId()};
        CompressedContext c = free.compress(bos, ratio);
        assertEquals(1, c.contextTokens());
        assertEquals(1, c.anchors());
        assertTrue(free.answer(c, "Who?", SHORT).promptRows() > 0);
        assertEquals(1, free.truncated(bos, ratio, Sac.Keep.LAST).anchors());
        assertEquals(1, free.truncated(bos, ratio, Sac.Keep.FIRST).anchors());
        assertEquals(1, free.fullContext(bos).anchors());
    }

    @Test
    void questionsLongerThanTheWindowAreRefusedContextsAreNot() {
        int window = model.config().maxSeqLen();
        CompressedContext tf = free.compress("A short context.", 5), sac = withAdapter.compress("A short context.", 5);
        int[] fits = new int[window], tooLong = new int[window + 1];
        Arrays.fill(fits, 5);
        Arrays.fill(tooLong, 5);
        free.answer(tf, fits, AnswerOptions.DEFAULT.withMaxNewTokens(1));
        refused(() -> free.answer(tf, tooLong, SHORT), (window + 1) + " tokens with the prompt template, more than the model's context of " + window);
        // with an adapter the [LM] row counts too
        withAdapter.answer(sac, Arrays.copyOf(fits, window - 1), AnswerOptions.DEFAULT.withMaxNewTokens(1));
        refused(() -> withAdapter.answer(sac, fits, SHORT), "more than the model's context of " + window);
        refused(() -> free.answer(tf, "why ".repeat(200), SHORT), "more than the model's context of " + window);
        // a context many windows long is what SAC is for, and the baselines run it too (positions past the window)
        String longText = "The night shift at the observatory belonged to a machine. ".repeat(40);
        assertTrue(free.contextIds(longText).length > 4 * window);
        free.answer(free.compress(longText, 5), "Who?", SHORT);
        free.answer(free.fullContext(longText), "Who?", SHORT);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, -5, Integer.MIN_VALUE})
    void ratiosBelowOneAreRefused(int ratio) {
        int[] ids = free.contextIds("Some context.");
        refused(() -> free.compress(ids, ratio), "ratio must be >= 1");
        refused(() -> free.compress("Some context.", ratio), "ratio must be >= 1");
        refused(() -> withAdapter.compress(ids, ratio), "ratio must be >= 1");
        refused(() -> free.truncated(ids, ratio, Sac.Keep.FIRST), "ratio must be >= 1");
    }

    @Test
    void unpairedSurrogatesAreTokenizedAsQuestionMarks() {
        Tokenizer t = model.tokenizer();
        String broken = "caf\uD800 and \uDC00 end \uD83D", mended = "caf? and ? end ?";
        assertArrayEquals(t.encode(mended), t.encode(broken));
        assertArrayEquals(free.contextIds(mended), free.contextIds(broken));
        CompressedContext a = free.compress(broken, 5), b = free.compress(mended, 5);
        assertArrayEquals(b.cache().ownRows(0)[0], a.cache().ownRows(0)[0]);
        assertArrayEquals(free.answer(b, "why\uDFFF?", SHORT).ids(), free.answer(a, "why??", SHORT).ids());
    }

    @Test
    void nulIsAnOrdinaryCharacter() {
        Tokenizer t = model.tokenizer();
        String text = "before\u0000after\u0000";
        int[] ids = t.encode(text);
        assertTrue(t.decode(ids).endsWith("before\u0000after\u0000"), "round trip keeps the NULs");
        assertTrue(ids.length > t.encode("beforeafter").length);
        CompressedContext c = free.compress(text.repeat(10), 5);
        assertEquals(free.contextIds(text.repeat(10)).length, c.contextTokens());
        free.answer(c, "What is \u0000?", SHORT);
    }

    @Test
    void answerPositionsCannotWrapAround() {
        CompressedContext c = free.compress("x", 5);
        CompressedContext huge = new CompressedContext(c.modelFingerprint(), c.adapterFingerprint(), 5,
                Integer.MAX_VALUE - 10, c.anchors(), c.cache());
        refused(() -> free.answer(huge, "Who?", SHORT), "leave no room for the answer's positions");
    }
}
