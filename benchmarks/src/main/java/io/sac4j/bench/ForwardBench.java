package io.sac4j.bench;

import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.DType;
import io.sac4j.load.SyntheticModel;
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
 * The whole forward pass of a Llama-3.2-1B-shaped model (random weights from {@link SyntheticModel}) on the CPU
 * backend, as llama.cpp's llama-bench measures it: prefill of a 512-token prompt (logits of the last row only)
 * and decode of single tokens after a 512-token prompt (positions 512..575 over and over, the cache cut back to
 * the prompt every 64 tokens). The report turns s/op into tokens per second.
 */
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class ForwardBench {

    /** The model and backend, built once per fork (a minute's work would not fit in an iteration). */
    @State(Scope.Benchmark)
    public static class Model {
        @Param({"BF16", "F32", "F16", "Q8_0"})
        public String type;

        @Param("2")
        public int threads;

        @Param("512")
        public int prompt;

        @Param("64")
        public int decode;

        SyntheticModel model;
        CpuBackend backend;
        Llama llama;
        int[] tokens, positions;

        @Setup(Level.Trial)
        public void setup() {
            model = SyntheticModel.create(SyntheticModel.llama32_1B(), DType.valueOf(type), 1);
            backend = new CpuBackend(threads);
            llama = new Llama(model.config(), model.weights(), backend);
            tokens = new int[prompt];
            positions = new int[prompt];
            for (int i = 0; i < prompt; i++) {
                tokens[i] = (int) ((i * 7919L + 13) % model.config().vocabSize());
                positions[i] = i;
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            backend.close();
            model.close();
        }
    }

    /** A cache for prefill runs, emptied before each. */
    @State(Scope.Benchmark)
    public static class Empty {
        KvCache cache;

        @Setup(Level.Trial)
        public void setup(Model m) {
            cache = m.llama.newCache(m.prompt);
        }
    }

    /** A cache holding the prompt, and the next decode position. */
    @State(Scope.Benchmark)
    public static class Prompted {
        KvCache cache;
        int position, token = 1;

        @Setup(Level.Trial)
        public void setup(Model m) {
            cache = m.llama.newCache(m.prompt + m.decode);
            m.llama.forward(m.tokens, m.positions, cache, Mask.causal(), Logits.NONE);
            position = m.prompt;
        }
    }

    /**
     * The bundled model (aidreams260K: llama2.c F32, dim 64, 4 layers, vocab 512), the same work: a 512-token prompt
     * in one call and single-token decode after it. Its calls take microseconds to milliseconds, so they are averaged.
     */
    @State(Scope.Benchmark)
    public static class Bundled {
        @Param("2")
        public int threads;

        @Param("512")
        public int prompt;

        @Param("64")
        public int decode;

        io.sac4j.load.Model model;
        CpuBackend backend;
        Llama llama;
        int[] tokens, positions;
        KvCache empty, prompted;
        int position, token = 1;

        @Setup(Level.Trial)
        public void setup() {
            model = io.sac4j.load.Model.bundled();
            backend = new CpuBackend(threads);
            llama = new Llama(model.config(), model.weights(), backend);
            int vocab = model.config().vocabSize();
            tokens = new int[prompt];
            positions = new int[prompt];
            for (int i = 0; i < prompt; i++) {
                tokens[i] = 3 + (int) ((i * 7919L + 13) % (vocab - 3)); // 0..2 are llama2.c's special tokens
                positions[i] = i;
            }
            empty = llama.newCache(prompt);
            prompted = llama.newCache(prompt + decode);
            llama.forward(tokens, positions, prompted, Mask.causal(), Logits.NONE);
            position = prompt;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            backend.close();
            model.close();
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public float[] prefillBundled(Bundled b) {
        b.empty.truncate(0);
        return b.llama.forward(b.tokens, b.positions, b.empty, Mask.causal(), Logits.LAST);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public float[] decodeBundled(Bundled b) {
        if (b.position == b.prompt + b.decode) {
            b.prompted.truncate(b.prompt);
            b.position = b.prompt;
        }
        float[] logits = b.llama.forward(new int[]{b.token}, new int[]{b.position++}, b.prompted, Mask.causal(), Logits.LAST);
        b.token = 3 + (b.token * 31 + 7) % (b.model.config().vocabSize() - 3);
        return logits;
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @Warmup(iterations = 2)
    @Measurement(iterations = 3)
    public float[] prefill(Model m, Empty e) {
        e.cache.truncate(0);
        return m.llama.forward(m.tokens, m.positions, e.cache, Mask.causal(), Logits.LAST);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 2, time = 4)
    @Measurement(iterations = 3, time = 5)
    public float[] decode(Model m, Prompted p) {
        if (p.position == m.prompt + m.decode) { // start the 64 decode steps again after the same prompt
            p.cache.truncate(m.prompt);
            p.position = m.prompt;
        }
        float[] logits = m.llama.forward(new int[]{p.token}, new int[]{p.position++}, p.cache, Mask.causal(), Logits.LAST);
        p.token = (p.token * 31 + 7) % m.model.config().vocabSize();
        return logits;
    }
}
