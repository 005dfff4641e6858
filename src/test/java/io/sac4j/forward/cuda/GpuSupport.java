package io.sac4j.forward.cuda;

import io.sac4j.SacException;
import io.sac4j.load.DType;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Shared by the @Tag("gpu") tests: opening the backend (or skipping with the exact "CUDA unavailable: ..."
 * reason), the error measure, and random weights in every type.
 */
final class GpuSupport {
    private GpuSupport() {
    }

    /**
     * The backend with launches synchronised, so a failing kernel is named. Without CUDA the test is skipped with
     * the reason, unless -Dsac.gpu.required=true (scripts/gpu/run_all.sh on a GPU machine): then it fails.
     */
    static CudaBackend openOrSkip(boolean bf16Cache, boolean tensorCores, boolean cublas) {
        CudaBackend b = openOrNull(bf16Cache, tensorCores, cublas);
        assumeTrue(b != null, unavailable);
        return b;
    }

    /** Why the last {@link #openOrNull} returned null ("CUDA unavailable: ..."). */
    static String unavailable;

    /** The backend, or null (with {@link #unavailable} set) where CUDA cannot be used; for @BeforeAll. */
    static CudaBackend openOrNull(boolean bf16Cache, boolean tensorCores, boolean cublas) {
        try {
            return CudaBackend.open(new CudaBackend.Options(Integer.getInteger("sac.cuda.device", 0), bf16Cache, tensorCores, cublas, true));
        } catch (SacException e) {
            if (Boolean.getBoolean("sac.gpu.required")) throw e;
            unavailable = e.getMessage();
            return null;
        }
    }

    /**
     * Small sizes: on the CPU emulator (the fake libcuda), or when asked with -Dsac.gpu.small=true (run_all.sh does
     * so under compute-sanitizer, which slows kernels down a hundredfold).
     */
    static boolean small(CudaBackend b) {
        return b.name().contains("emulator") || Boolean.getBoolean("sac.gpu.small");
    }

    /**
     * Normalised mean squared error sum (got - want)^2 / sum want^2 (ggml test-backend-ops' measure); a NaN or
     * infinity where the reference is finite fails at once.
     */
    static double nmse(float[] got, float[] want) {
        assertEquals(want.length, got.length, "length");
        double err = 0, norm = 0;
        for (int i = 0; i < want.length; i++) {
            if (!Float.isFinite(got[i]) && Float.isFinite(want[i])) return Double.POSITIVE_INFINITY;
            double d = (double) got[i] - want[i];
            err += d * d;
            norm += (double) want[i] * want[i];
        }
        return norm == 0 ? err : err / norm;
    }

    static void assertClose(String what, float[] got, float[] want, double tol) {
        double e = nmse(got, want);
        assertTrue(e <= tol, what + ": nmse " + e + " > " + tol);
    }

    static float[] randn(Random r, int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * scale);
        return x;
    }

    static ModelConfig config(int heads, int kvHeads, int headDim, int layers, ModelConfig.RopeStyle style) {
        int dim = heads * headDim;
        return new ModelConfig("llama", dim, 2 * dim, layers, heads, kvHeads, headDim, 512, 8192, 1e-5f, 10000f,
                style, null, false, false, 1, new int[]{2});
    }

    /** A [rows][cols] weight of the given type holding random values, encoded as the loaders would map it. */
    static Tensor tensor(String name, DType type, int rows, int cols, Random r) {
        float[] v = randn(r, rows * cols, 0.5);
        ByteBuffer b = ByteBuffer.allocate((int) type.bytes((long) rows * cols)).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case F32 -> {
                for (float f : v) b.putFloat(f);
            }
            case BF16 -> {
                for (float f : v) b.putShort(bf16(f));
            }
            case F16 -> {
                for (float f : v) b.putShort(Float.floatToFloat16(f));
            }
            case Q8_0 -> {
                for (int blk = 0; blk < v.length / 32; blk++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(v[32 * blk + j]));
                    short d = Float.floatToFloat16(amax / 127f);
                    float df = Float.float16ToFloat(d);
                    b.putShort(d);
                    for (int j = 0; j < 32; j++) b.put((byte) (df == 0 ? 0 : Math.max(-127, Math.min(127, Math.round(v[32 * blk + j] / df)))));
                }
            }
        }
        MemorySegment seg = MemorySegment.ofArray(b.array());
        return new Tensor(name, type, rows == 1 ? new long[]{cols} : new long[]{rows, cols}, seg);
    }

    static short bf16(float f) {
        int u = Float.floatToRawIntBits(f);
        u += 0x7fff + ((u >>> 16) & 1);
        return (short) (u >>> 16);
    }

    static float roundBf16(float f) {
        return Tensor.bf16(bf16(f));
    }
}
