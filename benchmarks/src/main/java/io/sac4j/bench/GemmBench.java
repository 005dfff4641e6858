package io.sac4j.bench;

import io.sac4j.forward.Buf;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.DType;
import io.sac4j.load.SyntheticModel;
import io.sac4j.load.Tensor;
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

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One linear layer through {@link CpuBackend#matmul}: out[rows, n] = x[rows, k] . w[n, k]^T with random weights of
 * each type. Shapes are rows x k x n: the Llama-3.2-1B prefill GEMMs of q/o (2048 -> 2048), gate/up (2048 -> 8192)
 * and down (8192 -> 2048) over 512 tokens, and the decode GEMV of its LM head (1 token, 2048 -> 128256; far larger
 * than the caches, so it measures memory bandwidth). The report turns ms/op into GFLOP/s (2 rows k n) and weight GB/s.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GemmBench {
    @Param({"512x2048x2048", "512x2048x8192", "512x8192x2048", "1x2048x128256"})
    public String shape;

    @Param({"F32", "F16", "BF16", "Q8_0"})
    public String type;

    @Param("2")
    public int threads;

    private Arena arena;
    private CpuBackend backend;
    private Tensor w;
    private Buf x, out;

    @Setup(Level.Trial)
    public void setup() {
        String[] s = shape.split("x");
        int rows = Integer.parseInt(s[0]), k = Integer.parseInt(s[1]), n = Integer.parseInt(s[2]);
        arena = Arena.ofShared();
        w = SyntheticModel.matrix(arena, "w", DType.valueOf(type), n, k, 42);
        backend = new CpuBackend(threads);
        float[] xs = new float[rows * k];
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        x = backend.alloc(rows, k);
        backend.write(x, xs);
        out = backend.alloc(rows, n);
    }

    @Benchmark
    public Buf matmul() {
        backend.matmul(out, x, w);
        return out;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        arena.close();
    }
}
