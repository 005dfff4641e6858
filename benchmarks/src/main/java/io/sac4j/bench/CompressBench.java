package io.sac4j.bench;

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

import java.util.concurrent.TimeUnit;

/**
 * SAC compression speed: {@code Sac.compress} of a context of exactly {@code tokens} encoder ids (built as AskBench
 * builds them), training-free (see {@link Subject}). The report turns time per op into tokens per second.
 * <p>
 * One ratio is enough: the encoder runs the whole model over every token whatever the ratio (chunks of 510 tokens,
 * bidirectional inside each); the ratio only decides how many rows are gathered from its cache afterwards, a copy
 * that is negligible next to the forward pass. An adapter would change nothing in this work except that the q/v
 * weights read are its merged f32 copies (merged once, before any compression).
 * <p>
 * Two methods because the models differ by four orders of magnitude: {@code bundled} (aidreams260K, milliseconds,
 * averaged over many calls) and {@code llama1B} (random BF16 Llama-3.2-1B shape, ~50 s for 4,096 tokens on 2 cores:
 * two single shots after a 512-token warm-up call in setup, which lets the JIT compile the kernels).
 */
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class CompressBench {

    @State(Scope.Benchmark)
    public static class Bundled {
        @Param(Subject.BUNDLED)
        public String model;

        @Param({"512", "2048", "4096"})
        public int tokens;

        @Param("15")
        public int ratio;

        @Param("2")
        public int threads;

        Subject s;
        int[] ids;

        @Setup(Level.Trial)
        public void setup() {
            s = Subject.open(model, threads);
            ids = s.contextIds(tokens);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            s.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Llama1B {
        @Param(Subject.LLAMA_1B)
        public String model;

        @Param({"512", "2048", "4096"})
        public int tokens;

        @Param("15")
        public int ratio;

        @Param("2")
        public int threads;

        Subject s;
        int[] ids;

        @Setup(Level.Trial)
        public void setup() {
            s = Subject.open(model, threads);
            ids = s.contextIds(tokens);
            s.sac.compress(s.contextIds(512), ratio); // JIT warm-up (a single shot would otherwise time the compiler)
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            s.close();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public CompressedContext bundled(Bundled b) {
        return b.s.sac.compress(b.ids, b.ratio);
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @Warmup(iterations = 0)
    @Measurement(iterations = 2)
    public CompressedContext llama1B(Llama1B b) {
        return b.s.sac.compress(b.ids, b.ratio);
    }
}
