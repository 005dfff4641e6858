package io.sac4j.load;

import io.sac4j.tokenize.BpeTokenizer;
import io.sac4j.tokenize.Llama2cTokenizer;
import io.sac4j.tokenize.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;

import static io.sac4j.load.LoadFixtures.assertError;
import static io.sac4j.load.LoadFixtures.copyDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Format detection, tokenizer selection and the shared arena of {@link ModelFormats}. */
class ModelFormatsTest {
    @TempDir
    Path tmp;

    static final String TEXT = "the quick brown fox jumps over the lazy dog, and the answer is short.";

    @Test
    void llama2cWithItsTokenizer() {
        Path tok = LoadFixtures.resource("/io/sac4j/models/tok512.bin");
        try (Model m = ModelFormats.open(LoadFixtures.bundledBin(), tok)) {
            assertEquals(64, m.config().dim());
            assertInstanceOf(Llama2cTokenizer.class, m.tokenizer());
            assertEquals(512, m.tokenizer().vocabSize());
        }
        try (Model m = ModelFormats.open(LoadFixtures.bundledBin(), null)) {
            assertNull(m.tokenizer()); // ids-only use
        }
    }

    @Test
    void closingTheModelUnmapsEveryWeight() {
        Model m = ModelFormats.open(SafetensorsLoaderTest.LLAMA, null);
        Tensor wq = m.weights().layers()[1].wq();
        float[] row = new float[wq.cols()];
        wq.readRow(0, row, 0);
        m.close();
        assertThrows(IllegalStateException.class, () -> wq.readRow(0, row, 0));
    }

    @Test
    void huggingFaceDirectoryUsesItsTokenizerJson() {
        try (Model m = ModelFormats.open(SafetensorsLoaderTest.LLAMA, null)) {
            assertEquals("llama", m.config().arch());
            assertInstanceOf(BpeTokenizer.class, m.tokenizer());
            assertEquals(283, m.tokenizer().vocabSize());
        }
        try (Model m = ModelFormats.open(SafetensorsLoaderTest.QWEN2, null)) {
            assertEquals(283, m.tokenizer().vocabSize()); // fewer tokens than the padded embedding table: fine
            assertEquals(288, m.config().vocabSize());
        }
    }

    @Test
    void ggufEmbeddedTokenizerEncodesLikeTokenizerJson() {
        for (String[] c : new String[][]{{"tiny-llama.q8_0.gguf", "tiny-llama"}, {"tiny-qwen2.q8_0.gguf", "tiny-qwen2"}}) {
            Path gguf = LoadFixtures.gguf(c[0]);
            Tokenizer json = BpeTokenizer.fromJson(LoadFixtures.gguf(c[1]).resolve("tokenizer.json"));
            try (Model m = ModelFormats.open(gguf, null)) {
                assertNotNull(m.tokenizer(), c[0]);
                int[] ids = m.tokenizer().encode(TEXT);
                assertArrayEquals(json.encode(TEXT), ids, c[0]);
                assertEquals(TEXT, m.tokenizer().decode(ids));
            }
            // an explicit tokenizer wins over the embedded one
            try (Model m = ModelFormats.open(gguf, LoadFixtures.gguf(c[1]).resolve("tokenizer.json"))) {
                assertInstanceOf(BpeTokenizer.class, m.tokenizer());
            }
        }
    }

    @Test
    void explicitTokenizerAsDirectoryOrGguf() {
        try (Model m = ModelFormats.open(LoadFixtures.gguf("tiny-llama.f32.gguf"), SafetensorsLoaderTest.LLAMA)) {
            assertEquals(283, m.tokenizer().vocabSize());
        }
        try (Model m = ModelFormats.open(SafetensorsLoaderTest.LLAMA, LoadFixtures.gguf("tiny-llama.q8_0.gguf"))) {
            assertArrayEquals(BpeTokenizer.fromJson(SafetensorsLoaderTest.LLAMA.resolve("tokenizer.json")).encode(TEXT),
                    m.tokenizer().encode(TEXT));
        }
    }

    @Test
    void tokenizerLargerThanTheModelIsRefused() {
        // the Qwen2 tokenizer (283 tokens) with a model of 283 rows is fine; cut the model's vocabulary to 280
        Path dir = copyDir(SafetensorsLoaderTest.LLAMA, tmp.resolve("m"));
        Path cfg = dir.resolve("config.json");
        LoadFixtures.writeString(cfg, LoadFixtures.readString(cfg).replace("\"vocab_size\": 283", "\"vocab_size\": 280")
                .replace("\"bos_token_id\": 280", "\"bos_token_id\": 1").replace("\"eos_token_id\": 281", "\"eos_token_id\": 2"));
        LoadFixtures.delete(dir.resolve("generation_config.json"));
        var items = SafetensorsWriter.read(dir.resolve("model.safetensors"));
        items.replaceAll(i -> i.name().equals("model.embed_tokens.weight") || i.name().equals("lm_head.weight")
                ? new SafetensorsWriter.Item(i.name(), i.dtype(), new long[]{280, 32}, Arrays.copyOf(i.data(), 280 * 32 * 4))
                : i);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), items);
        assertError(dir, () -> ModelFormats.open(dir, null).close(), "the tokenizer has 283 tokens, more than the model's vocabulary of 280");
    }

    @Test
    void dispatchAndMissingPaths() {
        Path absent = tmp.resolve("absent.bin");
        assertError(absent, () -> ModelFormats.open(absent, null), "no such file or directory");
        assertError(absent, () -> ModelFormats.open(LoadFixtures.bundledBin(), absent), "no such file or directory");
        // a file with the GGUF magic is read as GGUF, even when broken
        byte[] g = LoadFixtures.bytes(LoadFixtures.gguf("tiny-llama.q8_0.gguf"));
        Path cut = LoadFixtures.write(tmp.resolve("cut.gguf"), Arrays.copyOf(g, 500));
        assertError(cut, () -> ModelFormats.open(cut, null), "truncated");
        // anything else is taken for llama2.c
        Path other = LoadFixtures.writeString(tmp.resolve("model.dat"), "definitely not a model, just a line of text");
        assertError(other, () -> ModelFormats.open(other, null), "not a llama2.c checkpoint");
    }

    @Test
    void bundledModel() {
        try (Model m = Model.bundled()) {
            assertEquals(512, m.config().vocabSize());
            assertNotNull(m.tokenizer());
            assertTrue(m.toString().contains("dim 64"));
        }
    }
}
