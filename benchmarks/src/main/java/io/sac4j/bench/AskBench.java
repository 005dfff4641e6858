package io.sac4j.bench;

import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What SAC buys when answering: latency of one question over a context of {@code tokens} encoder ids held in full
 * ({@code ratio = 1}: the ids run causally through the decoder, as the full-context baseline) vs compressed at 5x,
 * 15x and 51x, training-free (see {@link Subject}: an adapter adds one [LM] row to the question and changes
 * nothing else in the decoder's work, which is what is timed). Each context is built once in setup, as in real use
 * (for the 1B model that costs up to a minute per configuration, outside the measurement).
 * <p>
 * {@code first} / {@code first1B}: the question's prefill over the cached rows, up to the first answer token (the
 * headline: the cost of attending to the context). {@code answer16}: an answer of at most 16 tokens on the bundled
 * model over 4,096 tokens (it may stop earlier at EOS, and the answers are the same for every ratio only by chance,
 * so compare {@code first} for the cost of the context). The bundled model's calls take milliseconds and are
 * averaged over many; the 1B model's take most of a second and are single shots.
 */
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class AskBench {

    /** What every configuration holds: the model, its context, the question (the states below add the params). */
    static class Trial {
        Subject s;
        CompressedContext ctx;
        int[] question;

        /** The full-context baseline at ratio 1, else SAC at that ratio. */
        void build(String model, int threads, int tokens, int ratio) {
            s = Subject.open(model, threads);
            int[] ids = s.contextIds(tokens);
            ctx = ratio == 1 ? s.sac.fullContext(ids) : s.sac.compress(ids, ratio);
            question = s.questionIds();
        }

        void close() {
            s.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Bundled extends Trial {
        @Param(Subject.BUNDLED)
        public String model;

        @Param({"512", "2048", "4096"})
        public int tokens;

        /** 1 = the full context (no compression); else SAC at that ratio. */
        @Param({"1", "5", "15", "51"})
        public int ratio;

        @Param("2")
        public int threads;

        @Setup(Level.Trial)
        public void setup() {
            build(model, threads, tokens, ratio);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            close();
        }
    }

    /** As {@link Bundled}, 4,096 tokens only: the 16-token answers. */
    @State(Scope.Benchmark)
    public static class Bundled4k extends Trial {
        @Param(Subject.BUNDLED)
        public String model;

        @Param("4096")
        public int tokens;

        @Param({"1", "5", "15", "51"})
        public int ratio;

        @Param("2")
        public int threads;

        @Setup(Level.Trial)
        public void setup() {
            build(model, threads, tokens, ratio);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            close();
        }
    }

    @State(Scope.Benchmark)
    public static class Llama1B extends Trial {
        @Param(Subject.LLAMA_1B)
        public String model;

        @Param({"512", "2048", "4096"})
        public int tokens;

        @Param({"1", "5", "15", "51"})
        public int ratio;

        @Param("2")
        public int threads;

        @Setup(Level.Trial)
        public void setup() {
            build(model, threads, tokens, ratio);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            close();
        }
    }

    /** Eight questions over one context: answered one after the other, or together (Sac.answerIds). */
    static class Eight extends Trial {
        List<int[]> questions;

        void build(String model, int threads, int tokens, int ratio) {
            super.build(model, threads, tokens, ratio);
            questions = new ArrayList<>();
            for (int i = 0; i < 8; i++) questions.add(s.sac.questionIds(Subject.QUESTION.replace("?", " " + (i + 1) + "?")));
        }

        List<Answer> answer(String mode, AnswerOptions options) {
            if (mode.equals("together")) return s.sac.answerIds(ctx, questions, options);
            List<Answer> out = new ArrayList<>();
            for (int[] q : questions) out.add(s.sac.answer(ctx, q, options));
            return out;
        }
    }

    @State(Scope.Benchmark)
    public static class BundledEight extends Eight {
        @Param(Subject.BUNDLED)
        public String model;

        @Param({"alone", "together"})
        public String mode;

        @Param("2")
        public int threads;

        @Setup(Level.Trial)
        public void setup() {
            build(model, threads, 2048, 15);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            close();
        }
    }

    @State(Scope.Benchmark)
    public static class Llama1BEight extends Eight {
        @Param(Subject.LLAMA_1B)
        public String model;

        @Param({"alone", "together"})
        public String mode;

        @Param("2")
        public int threads;

        @Setup(Level.Trial)
        public void setup() {
            build(model, threads, 2048, 15);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            close();
        }
    }

    private static final AnswerOptions FIRST = AnswerOptions.DEFAULT.withMaxNewTokens(1);
    private static final AnswerOptions SIXTEEN = AnswerOptions.DEFAULT.withMaxNewTokens(16);

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public Answer first(Bundled c) {
        return c.s.sac.answer(c.ctx, c.question, FIRST);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public Answer answer16(Bundled4k c) {
        return c.s.sac.answer(c.ctx, c.question, SIXTEEN);
    }

    /** Single shots of ~0.7 s; the JIT settles by the third (the small-row GEMMs are not those of setup's prefill). */
    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3)
    @Measurement(iterations = 5)
    public Answer first1B(Llama1B c) {
        return c.s.sac.answer(c.ctx, c.question, FIRST);
    }

    /**
     * Eight questions, at most 16 answer tokens each, over 2,048 tokens at 15x: {@code mode} alone (one after the
     * other) or together (decoded in one batch: each weight read once per step for all eight).
     */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public List<Answer> eight(BundledEight c) {
        return c.answer(c.mode, SIXTEEN);
    }

    /** As {@link #eight} on the 1B model: single shots of several seconds. */
    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 2)
    @Measurement(iterations = 3)
    public List<Answer> eight1B(Llama1BEight c) {
        return c.answer(c.mode, SIXTEEN);
    }
}
