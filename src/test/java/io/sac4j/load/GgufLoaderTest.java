package io.sac4j.load;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

import static io.sac4j.load.LoadFixtures.assertError;
import static io.sac4j.load.LoadFixtures.bytes;
import static io.sac4j.load.LoadFixtures.le;
import static io.sac4j.load.LoadFixtures.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GGUF files written by scripts/models/make_gguf.py from the tiny HF fixtures: every weight, dequantized, must equal
 * the source weight after the conversion (the llama q/k row permutation; F16/BF16 rounding; Q8_0 within one
 * quantization step), and corrupted copies must fail with one-line errors.
 */
class GgufLoaderTest {
    @TempDir
    Path tmp;

    enum Kind { F32, F16, BF16, Q8_0 }

    @Test
    void llamaF32() {
        compareWithSource("tiny-llama.f32.gguf", SafetensorsLoaderTest.LLAMA, Kind.F32);
    }

    @Test
    void llamaF16() {
        compareWithSource("tiny-llama.f16.gguf", SafetensorsLoaderTest.LLAMA, Kind.F16);
    }

    @Test
    void llamaBf16() {
        compareWithSource("tiny-llama.bf16.gguf", SafetensorsLoaderTest.LLAMA, Kind.BF16);
    }

    @Test
    void llamaQ8_0() {
        compareWithSource("tiny-llama.q8_0.gguf", SafetensorsLoaderTest.LLAMA, Kind.Q8_0);
    }

    @Test
    void qwen2Q8_0WithAlignment64() {
        compareWithSource("tiny-qwen2.q8_0.gguf", SafetensorsLoaderTest.QWEN2, Kind.Q8_0);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(LoadFixtures.gguf("tiny-qwen2.q8_0.gguf"), arena);
            assertEquals(64, g.alignment());
            assertEquals(0, g.dataOffset() % 64);
        }
    }

    /**
     * The random models of scripts/reference/make_models.py (fixtures/models/NAME) and their conversions
     * (fixtures/gguf/NAME.TYPE.gguf, see scripts/reference/make_all.sh), whichever of them are present.
     */
    @TestFactory
    Stream<DynamicTest> referenceModelConversions() throws IOException {
        var url = GgufLoaderTest.class.getResource("/fixtures/models");
        if (url == null) return Stream.empty();
        Path models = LoadFixtures.resource("/fixtures/models");
        List<DynamicTest> tests = new ArrayList<>();
        try (var dirs = Files.list(models)) {
            for (Path dir : dirs.sorted().toList()) {
                for (Kind k : Kind.values()) {
                    String name = dir.getFileName() + "." + k.name().toLowerCase(Locale.ROOT) + ".gguf";
                    if (GgufLoaderTest.class.getResource("/fixtures/gguf/" + name) != null)
                        tests.add(DynamicTest.dynamicTest(name, () -> compareWithSource(name, dir, k)));
                }
            }
        }
        return tests.stream();
    }

    private void compareWithSource(String file, Path hfDir, Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(LoadFixtures.gguf(file), arena);
            assertEquals(3, g.version());
            LoadedWeights gw = GgufLoader.load(g);
            LoadedWeights hw = SafetensorsLoader.load(hfDir, arena);
            ModelConfig gc = gw.config(), hc = hw.config();
            boolean llama = hc.arch().equals("llama");
            assertEquals(hc.arch(), gc.arch());
            assertEquals(hc.dim(), gc.dim());
            assertEquals(hc.hiddenDim(), gc.hiddenDim());
            assertEquals(hc.nLayers(), gc.nLayers());
            assertEquals(hc.nHeads(), gc.nHeads());
            assertEquals(hc.nKvHeads(), gc.nKvHeads());
            assertEquals(hc.headDim(), gc.headDim());
            assertEquals(hc.vocabSize(), gc.vocabSize());
            assertEquals(hc.maxSeqLen(), gc.maxSeqLen());
            assertEquals(hc.normEps(), gc.normEps());
            assertEquals(hc.ropeTheta(), gc.ropeTheta());
            assertEquals(hc.qkvBias(), gc.qkvBias());
            assertEquals(hc.tiedEmbeddings(), gc.tiedEmbeddings());
            assertEquals(hc.bosId(), gc.bosId());
            assertEquals(hc.eosIds()[0], gc.eosIds()[0]); // GGUF keeps one eos; generation_config's extra is not converted
            assertEquals(llama ? ModelConfig.RopeStyle.ADJACENT : ModelConfig.RopeStyle.HALVES, gc.ropeStyle());
            assertNull(gc.ropeScaling());
            if (hc.ropeScaling() != null) {
                assertArrayEquals(llama3Factors(hc), gc.ropeFreqFactors(), 1e-6f);
            } else {
                assertNull(gc.ropeFreqFactors());
            }
            if (gc.tiedEmbeddings()) assertSame(gw.weights().tokenEmbedding(), gw.weights().output());

            Map<String, Tensor> gt = SafetensorsLoaderTest.hfNames(gw), ht = SafetensorsLoaderTest.hfNames(hw);
            assertEquals(ht.keySet(), gt.keySet());
            for (String name : ht.keySet()) {
                Tensor src = ht.get(name), conv = gt.get(name);
                assertArrayEquals(src.shape(), conv.shape(), name);
                boolean vector = src.shape().length == 1;
                // norms and biases stay F32 whatever the output type
                DType want = vector ? DType.F32 : DType.valueOf(kind.name());
                assertEquals(want, conv.type(), name);
                int heads = name.contains("q_proj") ? hc.nHeads() : name.contains("k_proj") ? hc.nKvHeads() : 0;
                compare(name, src, conv, vector ? Kind.F32 : kind, llama && heads > 0 ? hc.headDim() : 0);
            }
        }
    }

    /** Row r of the converted tensor against its source row (per-head interleaving undone when headDim > 0). */
    private static void compare(String name, Tensor src, Tensor conv, Kind kind, int headDim) {
        int rows = src.rows(), cols = src.cols();
        float[] a = new float[cols], b = new float[cols];
        for (int r = 0; r < rows; r++) {
            int srcRow = r;
            if (headDim > 0) {
                // llama.cpp's permute: within head h, converted row 2i+j is HF row j*headDim/2 + i
                int h = r / headDim, k = r % headDim;
                srcRow = h * headDim + (k % 2) * (headDim / 2) + k / 2;
            }
            if (src.shape().length == 1) {
                a = src.toFloats();
                b = conv.toFloats();
                if (headDim > 0) {
                    float[] p = new float[a.length];
                    for (int i = 0; i < a.length; i++) {
                        int h = i / headDim, k = i % headDim;
                        p[i] = a[h * headDim + (k % 2) * (headDim / 2) + k / 2];
                    }
                    a = p;
                }
                assertArrayEquals(a, b, name);
                return;
            }
            src.readRow(srcRow, a, 0);
            conv.readRow(r, b, 0);
            switch (kind) {
                case F32 -> assertArrayEquals(a, b, name + " row " + r);
                case F16 -> {
                    for (int i = 0; i < cols; i++)
                        assertEquals(Float.float16ToFloat(Float.floatToFloat16(a[i])), b[i], name + " row " + r);
                }
                case BF16 -> {
                    for (int i = 0; i < cols; i++) assertEquals(bf16RoundNearestEven(a[i]), b[i], name + " row " + r);
                }
                case Q8_0 -> {
                    for (int blk = 0; blk < cols / 32; blk++) {
                        float max = 0;
                        for (int i = 0; i < 32; i++) max = Math.max(max, Math.abs(a[32 * blk + i]));
                        float d = max / 127;
                        // half a step, plus the scale's own f16 rounding (relative 2^-11) times |q| <= 127
                        float tol = 0.5f * d + 127 * d / 2048 + 1e-7f;
                        for (int i = 0; i < 32; i++) {
                            float x = a[32 * blk + i], y = b[32 * blk + i];
                            assertTrue(Math.abs(x - y) <= tol, name + " row " + r + " col " + (32 * blk + i) + ": " + x + " vs " + y);
                        }
                    }
                }
            }
        }
    }

    private static float bf16RoundNearestEven(float x) {
        int bits = Float.floatToRawIntBits(x);
        int rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
        return Float.intBitsToFloat(rounded);
    }

    /** Llama 3 rope scaling as per-frequency divisors, computed from the HF parameters (as the converter does). */
    private static float[] llama3Factors(ModelConfig c) {
        ModelConfig.RopeScaling s = c.ropeScaling();
        int half = c.headDim() / 2;
        float[] out = new float[half];
        double lowWl = s.originalMaxPositions() / s.lowFreqFactor(), highWl = s.originalMaxPositions() / s.highFreqFactor();
        for (int i = 0; i < half; i++) {
            double freq = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / c.headDim());
            double wl = 2 * Math.PI / freq;
            if (wl < highWl) out[i] = 1;
            else if (wl > lowWl) out[i] = s.factor();
            else {
                double smooth = (s.originalMaxPositions() / wl - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                out[i] = (float) (1 / ((1 - smooth) / s.factor() + smooth));
            }
        }
        return out;
    }

    @Test
    @SuppressWarnings("unchecked")
    void metadataTypesFollowTheConvention() {
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(LoadFixtures.gguf("tiny-qwen2.q8_0.gguf"), arena);
            Map<String, Object> md = g.metadata();
            assertEquals("qwen2", md.get("general.architecture"));
            assertEquals(2L, md.get("qwen2.block_count"));
            assertEquals(64L, md.get("general.alignment"));
            assertInstanceOf(Double.class, md.get("qwen2.rope.freq_base"));
            assertEquals(1e6, (Double) md.get("qwen2.rope.freq_base"));
            assertEquals(Boolean.FALSE, md.get("tokenizer.ggml.add_bos_token"));
            assertEquals("gpt2", md.get("tokenizer.ggml.model"));
            assertEquals("qwen2", md.get("tokenizer.ggml.pre"));
            String[] tokens = (String[]) md.get("tokenizer.ggml.tokens");
            long[] types = (long[]) md.get("tokenizer.ggml.token_type");
            assertEquals(288, tokens.length);
            assertEquals(288, types.length);
            // the tokenizer.json vocabulary in id order, special tokens as CONTROL (3), padding as UNUSED (5)
            Map<String, Object> tok = LoadFixtures.json(SafetensorsLoaderTest.QWEN2.resolve("tokenizer.json"));
            Map<String, Object> vocab = (Map<String, Object>) ((Map<String, Object>) tok.get("model")).get("vocab");
            for (var e : vocab.entrySet()) {
                int id = ((Long) e.getValue()).intValue();
                assertEquals(e.getKey(), tokens[id]);
                assertEquals(1L, types[id]);
            }
            for (Object o : (List<Object>) tok.get("added_tokens")) {
                Map<String, Object> a = (Map<String, Object>) o;
                int id = ((Long) a.get("id")).intValue();
                assertEquals(a.get("content"), tokens[id]);
                assertEquals(3L, types[id]);
            }
            assertEquals("[PAD287]", tokens[287]);
            assertEquals(5L, types[287]);
            List<Object> merges = (List<Object>) ((Map<String, Object>) tok.get("model")).get("merges");
            assertArrayEquals(merges.toArray(new String[0]), (String[]) md.get("tokenizer.ggml.merges"));
            assertEquals(282L, md.get("tokenizer.ggml.eos_token_id"));
        }
    }

    // ---- bad files ----

    @Test
    void badMagic() {
        byte[] b = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        b[0] = 'X';
        Path p = write(tmp.resolve("m.gguf"), b);
        assertFalse(GgufFile.hasMagic(p));
        assertError(p, () -> open(p), "not a GGUF file (bad magic)");
    }

    @Test
    void unsupportedVersion() {
        byte[] b = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        le(b).putInt(4, 1);
        Path p = write(tmp.resolve("m.gguf"), b);
        assertError(p, () -> open(p), "GGUF version 1 is not supported");
        le(b).putInt(4, 0x03000000); // a big-endian file
        write(p, b);
        assertError(p, () -> open(p), "big-endian");
    }

    @Test
    void truncatedAnywhere() {
        byte[] good = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        Path p = tmp.resolve("m.gguf");
        // cut in the header counts, the metadata, the tensor infos and the tensor data
        for (int len : new int[]{6, 20, 100, 3000, 6000, good.length / 2, good.length - 16}) { // (the last 10 bytes are padding)
            write(p, Arrays.copyOf(good, len));
            assertError(p, () -> open(p), "truncated");
        }
    }

    @Test
    void hugeDeclaredLengthsAreRefusedBeforeAllocating() {
        byte[] good = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        Path p = tmp.resolve("m.gguf");
        byte[] b = good.clone();
        le(b).putLong(24, 1L << 40); // the first key's length
        write(p, b);
        assertError(p, () -> open(p), "truncated: metadata key at offset 24 claims 1099511627776 bytes");

        b = good.clone();
        int at = find(b, "tokenizer.ggml.tokens") + "tokenizer.ggml.tokens".length();
        le(b).putLong(at + 8, Long.MAX_VALUE); // tokens: value type u32, element type u32, then the count
        write(p, b);
        assertError(p, () -> open(p), "truncated: metadata tokenizer.ggml.tokens claims " + Long.MAX_VALUE + " array elements");

        b = good.clone();
        le(b).putLong(8, 1L << 50); // tensor count
        write(p, b);
        assertError(p, () -> open(p), "tensor count 1125899906842624 does not fit");
    }

    @Test
    void unsupportedTensorType() {
        byte[] b = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        int type = tensorInfoTypeOffset(b, "blk.1.ffn_up.weight", 2);
        assertEquals(8, le(b).getInt(type));
        le(b).putInt(type, 12); // Q4_K
        Path p = write(tmp.resolve("m.gguf"), b);
        assertError(p, () -> load(p), "tensor blk.1.ffn_up.weight has type Q4_K (12), which is not supported");
    }

    @Test
    void tensorOutsideTheFileOrMisaligned() {
        byte[] good = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        int type = tensorInfoTypeOffset(good, "output.weight", 2);
        Path p = tmp.resolve("m.gguf");
        byte[] b = good.clone();
        le(b).putLong(type + 4, le(b).getLong(type + 4) + 4096);
        write(p, b);
        assertError(p, () -> open(p), "truncated: tensor output.weight");
        b = good.clone();
        le(b).putLong(type + 4, le(b).getLong(type + 4) + 2);
        write(p, b);
        assertError(p, () -> open(p), "tensor output.weight offset", "is not a multiple of the alignment 32");
        b = good.clone();
        le(b).putLong(type + 4, 0); // on top of the first tensor
        write(p, b);
        assertError(p, () -> open(p), "overlaps");
    }

    @Test
    void unknownArchitecture() {
        byte[] b = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        int at = find(b, "general.architecture") + "general.architecture".length() + 4 + 8;
        assertEquals("llama", new String(b, at, 5, StandardCharsets.UTF_8));
        System.arraycopy("gemma".getBytes(StandardCharsets.US_ASCII), 0, b, at, 5);
        Path p = write(tmp.resolve("m.gguf"), b);
        assertError(p, () -> load(p), "unsupported architecture gemma (supported: llama, qwen2)");
    }

    @Test
    void shapeMismatchAndMissingTensor() {
        byte[] good = bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        Path p = tmp.resolve("m.gguf");
        byte[] b = good.clone();
        int at = find(b, "llama.feed_forward_length") + "llama.feed_forward_length".length() + 4;
        assertEquals(64, le(b).getInt(at));
        le(b).putInt(at, 96);
        write(p, b);
        assertError(p, () -> load(p), "tensor blk.0.ffn_gate.weight has shape [64, 32], expected [96, 32]");

        b = good.clone();
        // rename a tensor so the loader cannot find it (same length keeps the layout valid)
        int name = findGgufString(b, "blk.1.attn_v.weight");
        b[name + "blk.1.attn_".length()] = 'x';
        write(p, b);
        assertError(p, () -> load(p), "missing tensor blk.1.attn_v.weight");
    }

    private static void open(Path p) {
        try (Arena arena = Arena.ofConfined()) {
            GgufFile.open(p, arena);
        }
    }

    private static void load(Path p) {
        try (Arena arena = Arena.ofConfined()) {
            GgufLoader.load(GgufFile.open(p, arena));
        }
    }

    /** Position of the first occurrence of an ASCII string. */
    private static int find(byte[] b, String s) {
        byte[] n = s.getBytes(StandardCharsets.ISO_8859_1);
        outer:
        for (int i = 0; i + n.length <= b.length; i++) {
            for (int j = 0; j < n.length; j++) if (b[i + j] != n[j]) continue outer;
            return i;
        }
        throw new AssertionError(s + " not found");
    }

    /** Position of a GGUF string (u64 length, then the bytes), pointing at the bytes. */
    private static int findGgufString(byte[] b, String s) {
        byte[] n = s.getBytes(StandardCharsets.US_ASCII);
        byte[] pattern = new byte[8 + n.length];
        le(pattern).putLong(0, n.length);
        System.arraycopy(n, 0, pattern, 8, n.length);
        return find(b, new String(pattern, StandardCharsets.ISO_8859_1)) + 8;
    }

    /** Byte offset of the ggml type field in a tensor's info (name, n_dims, ne[n_dims], type, offset). */
    private static int tensorInfoTypeOffset(byte[] b, String name, int nDims) {
        int at = findGgufString(b, name) + name.length();
        assertEquals(nDims, le(b).getInt(at));
        return at + 4 + 8 * nDims;
    }

}
