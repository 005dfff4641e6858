package io.sac4j.tokenize;

import io.sac4j.SacException;
import io.sac4j.load.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GGUF path: metadata built the way llama.cpp's converter writes it, from the same tokenizer.json / tok512 data,
 * must tokenize exactly like the reference.
 */
class GgufTokenizerTest {
    private static final Map<String, String> PRE = Map.of("llama3", "llama-bpe", "qwen2", "qwen2", "gpt2", "gpt2",
            "smollm2", "smollm");

    static List<String> names() {
        return TokenizerFixtures.BPE_NAMES;
    }

    /** tokenizer.json -> tokenizer.ggml.* (tokens by id, merges "a b", token types 1/3/4). */
    @SuppressWarnings("unchecked")
    static Map<String, Object> metadataFromJson(String name) throws IOException {
        String src = TokenizerFixtures.bpeJson(name).toString();
        Map<String, Object> root = Json.parseObject(Files.readString(TokenizerFixtures.bpeJson(name)), src);
        Map<String, Object> model = (Map<String, Object>) root.get("model");
        Map<String, Object> vocab = (Map<String, Object>) model.get("vocab");
        List<Map<String, Object>> added = (List<Map<String, Object>>) root.get("added_tokens");
        int n = 0;
        for (Object id : vocab.values()) n = Math.max(n, ((Long) id).intValue() + 1);
        for (Map<String, Object> a : added) n = Math.max(n, ((Long) a.get("id")).intValue() + 1);
        String[] tokens = new String[n];
        long[] types = new long[n];
        for (var e : vocab.entrySet()) {
            tokens[((Long) e.getValue()).intValue()] = e.getKey();
            types[((Long) e.getValue()).intValue()] = 1;
        }
        for (Map<String, Object> a : added) {
            int id = ((Long) a.get("id")).intValue();
            tokens[id] = (String) a.get("content");
            types[id] = Boolean.TRUE.equals(a.get("special")) ? 3 : 4;
        }
        List<Object> mergesJson = (List<Object>) model.get("merges");
        String[] merges = new String[mergesJson.size()];
        for (int i = 0; i < merges.length; i++) {
            Object m = mergesJson.get(i);
            merges[i] = m instanceof String s ? s : ((List<?>) m).get(0) + " " + ((List<?>) m).get(1);
        }
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "gpt2");
        md.put("tokenizer.ggml.pre", PRE.get(name));
        md.put("tokenizer.ggml.tokens", tokens);
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.merges", merges);
        return md;
    }

    /** tok512.bin -> a "llama" vocabulary as llama.cpp writes SentencePiece: "▁" for spaces, typed tokens. */
    static Map<String, Object> metadataFromTok512() {
        ByteBuffer bb = ByteBuffer.wrap(TokenizerFixtures.tok512()).order(ByteOrder.LITTLE_ENDIAN);
        bb.getInt();
        String[] tokens = new String[512];
        double[] scores = new double[512];
        long[] types = new long[512];
        for (int i = 0; i < 512; i++) {
            scores[i] = bb.getFloat();
            byte[] b = new byte[bb.getInt()];
            bb.get(b);
            tokens[i] = new String(b, StandardCharsets.UTF_8).replace(" ", "\u2581");
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        }
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "llama");
        md.put("tokenizer.ggml.tokens", tokens);
        md.put("tokenizer.ggml.scores", scores);
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.bos_token_id", 1L);
        md.put("tokenizer.ggml.eos_token_id", 2L);
        md.put("tokenizer.ggml.add_space_prefix", true);
        return md;
    }

    @ParameterizedTest
    @MethodSource("names")
    void byteLevelBpeFromMetadataMatchesTheReference(String name) throws IOException {
        Tokenizer tok = GgufTokenizer.fromMetadata("model.gguf", metadataFromJson(name));
        assertInstanceOf(BpeTokenizer.class, tok);
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases(name)) {
            assertArrayEquals(c.ids(), tok.encode(c.text()), name + " " + c.label());
            assertEquals(c.decoded(), tok.decode(c.ids()), name + " " + c.label());
        }
    }

    @Test
    void sentencePieceFromMetadataMatchesRunC() {
        Tokenizer tok = GgufTokenizer.fromMetadata("model.gguf", metadataFromTok512());
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases("tok512")) {
            assertArrayEquals(c.ids(), tok.encode(c.text()), c.label());
            assertEquals(c.decoded(), Llama2cTokenizerTest.decodeAfterBos(tok, c.ids()), c.label());
        }
    }

    @Test
    void sentencePieceControlTokensAreMatchedInText() {
        Tokenizer tok = GgufTokenizer.fromMetadata("model.gguf", metadataFromTok512());
        Tokenizer plain = Llama2cTokenizerTest.tok512();
        // the control token "\n<s>\n" is cut out; each side is encoded with its own dummy prefix, as llama.cpp does
        int[] ids = tok.encode("a\n<s>\nb");
        int[] a = tok.encode("a");
        int[] b = tok.encode("b");
        int[] expected = java.util.stream.IntStream.concat(java.util.stream.IntStream.concat(
                java.util.Arrays.stream(a), java.util.stream.IntStream.of(1)), java.util.Arrays.stream(b)).toArray();
        assertArrayEquals(expected, ids);
        int[] runC = plain.encode("a\n<s>\nb"); // run.c matches no special tokens
        assertTrue(java.util.Arrays.stream(runC).noneMatch(i -> i == 1));
    }

    @Test
    void badMetadataIsNamed() throws IOException {
        Map<String, Object> md = metadataFromJson("gpt2");
        md.put("tokenizer.ggml.model", "bert");
        assertMessage(md, "tokenizer.ggml.model \"bert\" is not supported");
        md = metadataFromJson("gpt2");
        md.remove("tokenizer.ggml.model");
        assertMessage(md, "tokenizer.ggml.model is missing");
        md = metadataFromJson("gpt2");
        md.remove("tokenizer.ggml.merges");
        assertMessage(md, "tokenizer.ggml.merges is missing");
        md = metadataFromJson("gpt2");
        md.put("tokenizer.ggml.tokens", new long[] {1, 2});
        assertMessage(md, "tokenizer.ggml.tokens must be an array of strings, got an integer array of 2");
        md = metadataFromJson("gpt2");
        md.put("tokenizer.ggml.pre", "deepseek-llm");
        assertMessage(md, "tokenizer.ggml.pre \"deepseek-llm\" is not supported");
        md = metadataFromJson("gpt2");
        md.put("tokenizer.ggml.merges", new String[] {"x y z"});
        assertMessage(md, "merge 0 \"x y z\" is not two tokens");
        md = metadataFromJson("gpt2");
        md.put("tokenizer.ggml.token_type", new long[] {1});
        assertMessage(md, "token_type has 1 entries");
        Map<String, Object> spm = metadataFromTok512();
        spm.put("tokenizer.ggml.scores", new double[3]);
        assertMessage(spm, "tokenizer.ggml.scores has 3 entries for 512 tokens");
        spm = metadataFromTok512();
        spm.put("tokenizer.ggml.bos_token_id", 9999L);
        assertMessage(spm, "bos_token_id = 9999 is outside");
    }

    private static void assertMessage(Map<String, Object> md, String part) {
        SacException e = assertThrows(SacException.class, () -> GgufTokenizer.fromMetadata("m.gguf", md));
        assertTrue(e.getMessage().startsWith("m.gguf: "), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
