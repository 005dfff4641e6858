package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * {@link Sac} is documented thread-safe and {@link Model#close()} safe while calls run: 32 threads sharing one model,
 * one backend and one compressed context get exactly the answers of sequential calls; a model closed under load lets
 * running calls finish and refuses new ones with a clear error.
 */
class ConcurrencyTest {
    static final int THREADS = 32;
    static final String CONTEXT = "Echoes of vectors unfold, a gentle hum of precision, as I sense the nodes. "
            + "The night shift at the observatory belonged to a small machine called Lumen. ";

    static String question(int i) {
        String[] who = {"Who", "What", "Where", "Why", "When", "How"};
        return who[i % who.length] + " is thing number " + i + " in the story?";
    }

    @Test
    void thirtyTwoThreadsAnswerLikeSequentialCalls() throws Exception {
        try (Model model = Model.bundled(); CpuBackend backend = new CpuBackend(2)) {
            SacAdapter adapter = SacAdapter.load(SacFixture.adapter("adapters/aidreams260K-r5", ".safetensors"), model.config());
            try (Sac sac = Sac.open(model, adapter, backend); Sac free = Sac.open(model, null, backend)) {
                CompressedContext ctx = sac.compress(CONTEXT.repeat(12), 5);
                AnswerOptions opts = AnswerOptions.DEFAULT.withMaxNewTokens(24).withKeepLogits(1);
                Answer[] alone = new Answer[THREADS];
                for (int i = 0; i < THREADS; i++) alone[i] = sac.answer(ctx, question(i), opts);
                // some threads also compress their own context meanwhile, with and without the adapter
                CompressedContext[] aloneCtx = new CompressedContext[THREADS];
                for (int i = 0; i < THREADS; i += 8) aloneCtx[i] = (i % 16 == 0 ? sac : free).compress(CONTEXT.repeat(1 + i / 8), 5);
                float[] rowsBefore = ctx.cache().ownRows(2)[1].clone();

                Answer[] together = new Answer[THREADS];
                CompressedContext[] togetherCtx = new CompressedContext[THREADS];
                ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
                CyclicBarrier start = new CyclicBarrier(THREADS);
                List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int i = t;
                    threads.add(Thread.ofPlatform().name("asker-" + i).start(() -> {
                        try {
                            start.await();
                            if (i % 8 == 0) togetherCtx[i] = (i % 16 == 0 ? sac : free).compress(CONTEXT.repeat(1 + i / 8), 5);
                            together[i] = sac.answer(ctx, question(i), opts);
                        } catch (Throwable e) {
                            errors.add(e);
                        }
                    }));
                }
                for (Thread t : threads) t.join(TimeUnit.MINUTES.toMillis(2));
                assertTrue(errors.isEmpty(), () -> "calls failed: " + errors);
                for (int i = 0; i < THREADS; i++) {
                    assertArrayEquals(alone[i].ids(), together[i].ids(), "question " + i);
                    assertEquals(alone[i].text(), together[i].text(), "question " + i);
                    assertArrayEquals(alone[i].logits().getFirst(), together[i].logits().getFirst(), "first logits of question " + i);
                }
                for (int i = 0; i < THREADS; i += 8) {
                    assertEquals(aloneCtx[i].anchors(), togetherCtx[i].anchors());
                    for (int l = 0; l < model.config().nLayers(); l++)
                        assertArrayEquals(aloneCtx[i].cache().ownRows(l)[0], togetherCtx[i].cache().ownRows(l)[0], "context " + i);
                }
                // the questions differ, and so do the logits (the tiny model's greedy answers may coincide): each
                // thread really ran its own question
                assertEquals(THREADS, Arrays.stream(together).map(a -> Arrays.toString(a.logits().getFirst())).distinct().count());
                // the shared context was only read
                assertArrayEquals(rowsBefore, ctx.cache().ownRows(2)[1]);
            }
        }
    }

    /**
     * close() under load: answers in progress finish normally; calls started after close() began fail with the
     * SacException "the model is closed"; nothing else is thrown and close() returns once the calls are done.
     */
    @Test
    void closingAModelWhileCallsRunLetsThemFinishAndRefusesNewOnes() throws Exception {
        assertTimeoutPreemptively(java.time.Duration.ofMinutes(2), () -> {
            Model model = Model.bundled();
            try (CpuBackend backend = new CpuBackend(2); Sac sac = Sac.open(model, null, backend)) {
                CompressedContext ctx = sac.compress(CONTEXT.repeat(4), 5);
                int[] expected = sac.answer(ctx, question(1), AnswerOptions.DEFAULT.withMaxNewTokens(16)).ids();
                Llama llama = new Llama(model, backend);
                AtomicInteger finished = new AtomicInteger(), refused = new AtomicInteger();
                ConcurrentLinkedQueue<Throwable> wrong = new ConcurrentLinkedQueue<>();
                CountDownLatch running = new CountDownLatch(8);
                List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    int id = t;
                    threads.add(Thread.ofPlatform().start(() -> {
                        running.countDown();
                        while (true) {
                            try {
                                if (id % 4 == 3) { // a plain forward pass on the model's weights
                                    llama.forward(new int[]{1, 2, 3}, new int[]{0, 1, 2}, llama.newCache(3), Mask.causal(), Logits.LAST);
                                } else {
                                    int[] ids = sac.answer(ctx, question(1), AnswerOptions.DEFAULT.withMaxNewTokens(16)).ids();
                                    if (!Arrays.equals(expected, ids)) wrong.add(new AssertionError("answer changed under close()"));
                                }
                                finished.incrementAndGet();
                            } catch (SacException e) {
                                if (e.getMessage().equals(model.source() + ": the model is closed")) refused.incrementAndGet();
                                else wrong.add(e);
                                return;
                            } catch (Throwable e) {
                                wrong.add(e);
                                return;
                            }
                        }
                    }));
                }
                running.await();
                while (finished.get() < 16) Thread.onSpinWait(); // under way for real
                model.close();
                assertTrue(model.isClosed());
                for (Thread t : threads) t.join();
                assertTrue(wrong.isEmpty(), () -> "unexpected outcomes: " + wrong);
                assertEquals(8, refused.get(), "every thread ends on the clear error");
                // after close: new calls are refused the same way, and a second close is harmless
                SacException e = assertThrows(SacException.class, () -> sac.answer(ctx, "x", AnswerOptions.DEFAULT));
                assertEquals(model.source() + ": the model is closed", e.getMessage());
                assertThrows(SacException.class, () -> sac.compress("more", 5));
                assertThrows(SacException.class, () -> Sac.open(model, null, backend));
                model.close();
            }
        });
    }

    /** close() from inside a call on the same model would wait for itself forever: it is refused instead. */
    @Test
    void closingFromInsideACallIsRefused() {
        try (Model model = Model.bundled(); CpuBackend backend = new CpuBackend(1); Sac sac = Sac.open(model, null, backend)) {
            CompressedContext ctx = sac.compress(CONTEXT, 5);
            try (Model.Use u = model.use()) {
                SacException e = assertThrows(SacException.class, model::close);
                assertTrue(e.getMessage().contains("close() called from inside a call"), e.getMessage());
            }
            assertFalse(model.isClosed());
            assertTrue(sac.answer(ctx, "x", AnswerOptions.DEFAULT.withMaxNewTokens(4)).promptRows() > 0);
        }
    }
}
