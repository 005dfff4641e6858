package io.sac4j.bench;

import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
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

import java.util.concurrent.TimeUnit;

/**
 * What SAC buys when answering: latency of one question over a ~4k-token context held in full ({@code ratio = 1})
 * vs compressed at 5x, 15x and 51x, on the bundled model (training-free SAC: it has no adapter; the decoder's work,
 * which is what is timed, is the same with one). The context is compressed once in setup, as in real use.
 * {@code first}: the question's prefill over the cached rows, up to the first answer token; {@code answer16}: an
 * answer of at most 16 tokens (the model may stop earlier at EOS; the answers are the same for every ratio only by
 * chance, so compare {@code first} for the cost of attending to the context).
 */
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class AskBench {

    @State(Scope.Benchmark)
    public static class Context {
        /** 1 = the full context (no compression); else SAC at that ratio. */
        @Param({"1", "5", "15", "51"})
        public int ratio;

        @Param("2")
        public int threads;

        @Param("4096")
        public int tokens;

        Model model;
        CpuBackend backend;
        Sac sac;
        CompressedContext ctx;
        int[] question;

        @Setup(Level.Trial)
        public void setup() {
            model = Model.bundled();
            backend = new CpuBackend(threads);
            sac = Sac.open(model, null, backend);
            // a deterministic context of exactly `tokens` ids: [BOS] + "### Context:\n" + cycling ordinary ids
            int[] prefix = sac.contextIds("");
            int[] ids = new int[tokens];
            System.arraycopy(prefix, 0, ids, 0, prefix.length);
            for (int i = prefix.length; i < tokens; i++) ids[i] = 3 + (int) ((i * 7919L) % (model.config().vocabSize() - 3));
            ctx = ratio == 1 ? sac.fullContext(ids) : sac.compress(ids, ratio);
            question = sac.questionIds("What did the machine dream of?");
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            sac.close();
            backend.close();
            model.close();
        }
    }

    @Benchmark
    public Answer first(Context c) {
        return c.sac.answer(c.ctx, c.question, AnswerOptions.DEFAULT.withMaxNewTokens(1));
    }

    @Benchmark
    public Answer answer16(Context c) {
        return c.sac.answer(c.ctx, c.question, AnswerOptions.DEFAULT.withMaxNewTokens(16));
    }
}
