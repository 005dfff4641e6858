package io.sac4j.load;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * A Llama-shaped model with random weights held in native memory: for benchmarks and kernel tests, where the shape
 * and weight type matter but the values do not. Matrices are ~N(0, std^2) (std 0.02, like common initialisations),
 * norm gains are 1 + small noise, and the output head is tied to the embedding table. Values depend only on the
 * seed and each tensor's name, so a model is the same whatever the thread count. Q8_0 weights are quantised from
 * the f32 values the way ggml does (per block of 32: d = max|x| / 127 stored as f16, q = round(x / d)).
 */
public final class SyntheticModel implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Standard deviation of matrix weights. */
    public static final float STD = 0.02f;

    private final ModelConfig config;
    private final LlamaWeights weights;
    private final Arena arena;

    private SyntheticModel(ModelConfig config, LlamaWeights weights, Arena arena) {
        this.config = config;
        this.weights = weights;
        this.arena = arena;
    }

    public ModelConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    /** The shape of Llama-3.2-1B: dim 2048, ffn 8192, 16 layers, 32/8 heads of 64, vocab 128256, tied. */
    public static ModelConfig llama32_1B() {
        return config(2048, 8192, 16, 32, 8, 64, 128256);
    }

    /** A Llama 3 style config (HF RoPE halves, theta 500000, no scaling) of the given shape. */
    public static ModelConfig config(int dim, int hiddenDim, int layers, int heads, int kvHeads, int headDim, int vocab) {
        return new ModelConfig("llama", dim, hiddenDim, layers, heads, kvHeads, headDim, vocab, 131072, 1e-5f,
                500000f, ModelConfig.RopeStyle.HALVES, null, false, true, -1, new int[0]);
    }

    /**
     * Random weights of {@code config}'s shape, matrices in {@code type} (norm gains always F32). Every matrix width
     * must be a multiple of 32 for Q8_0.
     */
    public static SyntheticModel create(ModelConfig config, DType type, long seed) {
        Arena arena = Arena.ofShared();
        try {
            ModelConfig c = config;
            Tensor embedding = matrix(arena, "token_embd", type, c.vocabSize(), c.dim(), seed);
            LlamaWeights.Layer[] layers = new LlamaWeights.Layer[c.nLayers()];
            for (int l = 0; l < layers.length; l++) {
                String p = "blk." + l + ".";
                layers[l] = new LlamaWeights.Layer(
                        gain(arena, p + "attn_norm", c.dim(), seed),
                        matrix(arena, p + "attn_q", type, c.qDim(), c.dim(), seed),
                        matrix(arena, p + "attn_k", type, c.kvDim(), c.dim(), seed),
                        matrix(arena, p + "attn_v", type, c.kvDim(), c.dim(), seed),
                        matrix(arena, p + "attn_output", type, c.dim(), c.qDim(), seed),
                        c.qkvBias() ? bias(arena, p + "attn_q.bias", c.qDim(), seed) : null,
                        c.qkvBias() ? bias(arena, p + "attn_k.bias", c.kvDim(), seed) : null,
                        c.qkvBias() ? bias(arena, p + "attn_v.bias", c.kvDim(), seed) : null,
                        gain(arena, p + "ffn_norm", c.dim(), seed),
                        matrix(arena, p + "ffn_gate", type, c.hiddenDim(), c.dim(), seed),
                        matrix(arena, p + "ffn_down", type, c.dim(), c.hiddenDim(), seed),
                        matrix(arena, p + "ffn_up", type, c.hiddenDim(), c.dim(), seed));
            }
            Tensor output = c.tiedEmbeddings() ? embedding : matrix(arena, "output", type, c.vocabSize(), c.dim(), seed);
            LlamaWeights w = new LlamaWeights(embedding, layers, gain(arena, "output_norm", c.dim(), seed), output);
            return new SyntheticModel(c, w, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** A rows x cols random matrix ~N(0, STD^2) in {@code type}, allocated in {@code arena}. */
    public static Tensor matrix(Arena arena, String name, DType type, int rows, int cols, long seed) {
        return tensor(arena, name, type, rows, cols, seed, 0f, STD);
    }

    private static Tensor gain(Arena arena, String name, int n, long seed) {
        return tensor(arena, name, DType.F32, 1, n, seed, 1f, 0.1f);
    }

    private static Tensor bias(Arena arena, String name, int n, long seed) {
        return tensor(arena, name, DType.F32, 1, n, seed, 0f, STD);
    }

    /** rows x cols values mean + std * (about normal), stored as {@code type}; a 1-row tensor is 1-D. */
    public static Tensor tensor(Arena arena, String name, DType type, int rows, int cols, long seed, float mean, float std) {
        if (type == DType.Q8_0 && cols % 32 != 0)
            throw new IllegalArgumentException(name + ": Q8_0 needs a width that is a multiple of 32, not " + cols);
        long rowBytes = type.bytes(cols);
        MemorySegment data = arena.allocate(Math.multiplyExact(rowBytes, rows), 64);
        long tensorSeed = seed * 0x9E3779B97F4A7C15L + name.hashCode();
        IntStream.range(0, rows).parallel().forEach(r -> {
            SplittableRandom rnd = new SplittableRandom(tensorSeed + 0x632BE59BD9B4E019L * r);
            float[] row = new float[cols];
            for (int i = 0; i < cols; i++) row[i] = mean + std * gaussian(rnd);
            store(type, data, r * rowBytes, row);
        });
        long[] shape = rows == 1 ? new long[]{cols} : new long[]{rows, cols};
        return new Tensor(name, type, shape, data);
    }

    /**
     * About N(0, 1) from one random long: a sum of four 16-bit uniforms (Irwin-Hall), which is much cheaper than
     * Box-Muller and close enough for weights that only need a realistic spread (tails cut at ~3.5 sigma).
     */
    private static float gaussian(SplittableRandom rnd) {
        long b = rnd.nextLong();
        int sum = (int) (b & 0xffff) + (int) ((b >>> 16) & 0xffff) + (int) ((b >>> 32) & 0xffff) + (int) (b >>> 48);
        // mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12
        return (float) ((sum - 131070.0) / 37837.23);
    }

    /** Writes one row of f32 values at {@code off} in {@code type}'s encoding (round to nearest even). */
    static void store(DType type, MemorySegment data, long off, float[] row) {
        switch (type) {
            case F32 -> MemorySegment.copy(row, 0, data, F32, off, row.length);
            case F16 -> {
                for (int i = 0; i < row.length; i++) data.set(I16, off + 2L * i, Float.floatToFloat16(row[i]));
            }
            case BF16 -> {
                for (int i = 0; i < row.length; i++) data.set(I16, off + 2L * i, toBf16(row[i]));
            }
            case Q8_0 -> {
                for (int b = 0; b < row.length / 32; b++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(row[32 * b + j]));
                    float d = amax / 127, id = d != 0 ? 1 / d : 0;
                    long p = off + 34L * b;
                    data.set(I16, p, Float.floatToFloat16(d));
                    for (int j = 0; j < 32; j++) {
                        float v = row[32 * b + j] * id; // ggml's roundf: halves away from zero
                        data.set(ValueLayout.JAVA_BYTE, p + 2 + j, (byte) (Math.signum(v) * Math.round(Math.abs(v))));
                    }
                }
            }
        }
    }

    /** f32 to bf16, round to nearest even (as torch does); NaN stays NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Frees the weights; they must not be used afterwards. */
    @Override
    public void close() {
        arena.close();
    }
}
