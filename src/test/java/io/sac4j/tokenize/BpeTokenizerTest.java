package io.sac4j.tokenize;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BpeTokenizer against the ids that Hugging Face's tokenizers.js gives for the same tokenizer.json files. */
class BpeTokenizerTest {

    static List<String> names() {
        return TokenizerFixtures.BPE_NAMES;
    }

    static BpeTokenizer load(String name) {
        return BpeTokenizer.fromJson(TokenizerFixtures.bpeJson(name));
    }

    @ParameterizedTest
    @MethodSource("names")
    void encodesExactlyAsTheReference(String name) {
        BpeTokenizer tok = load(name);
        int checked = 0;
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases(name)) {
            assertArrayEquals(c.ids(), tok.encode(c.text()), name + " " + c.label());
            checked++;
        }
        assertTrue(checked > 400);
    }

    /** Both merge loops (rescan for short words, heap for long ones) must give the reference ids on every case. */
    @ParameterizedTest
    @MethodSource("names")
    void scanAndHeapMergesAgree(String name) {
        BpeTokenizer heap = load(name);
        heap.heapThreshold = 0;
        BpeTokenizer scan = load(name);
        scan.heapThreshold = Integer.MAX_VALUE;
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases(name)) {
            assertArrayEquals(c.ids(), heap.encode(c.text()), "heap " + name + " " + c.label());
            assertArrayEquals(c.ids(), scan.encode(c.text()), "scan " + name + " " + c.label());
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void decodesAsTheReference(String name) {
        BpeTokenizer tok = load(name);
        int roundTrips = 0;
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases(name)) {
            String decoded = tok.decode(c.ids());
            assertEquals(c.decoded(), decoded, name + " " + c.label());
            if (decoded.equals(c.text())) roundTrips++;
        }
        // byte-level BPE is lossless; only Qwen2's NFC changes text (the decomposed-accent lines)
        List<TokenizerFixtures.Case> cases = TokenizerFixtures.cases(name);
        if (!name.equals("qwen2")) assertEquals(cases.size(), roundTrips, name);
        else assertTrue(roundTrips >= cases.size() - 12, "qwen2 round trips: " + roundTrips);
    }

    @Test
    void nfcIsWhatQwen2Changes() {
        BpeTokenizer qwen = load("qwen2");
        String decomposed = "cafe\u0301 nai\u0308ve";
        assertEquals("caf\u00e9 na\u00efve", qwen.decode(qwen.encode(decomposed)));
        assertArrayEquals(qwen.encode("caf\u00e9 na\u00efve"), qwen.encode(decomposed));
        BpeTokenizer llama = load("llama3");
        assertEquals(decomposed, llama.decode(llama.encode(decomposed)));
    }

    @ParameterizedTest
    @MethodSource("names")
    void streamDecoderReassemblesSplitCharacters(String name) {
        BpeTokenizer tok = load(name);
        int heldBack = 0;
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases(name)) {
            StreamDecoder sd = new StreamDecoder(tok, -1);
            StringBuilder out = new StringBuilder();
            for (int id : c.ids()) {
                String piece = sd.next(id);
                if (piece.isEmpty() && tok.tokenBytes(-1, id).length > 0) heldBack++;
                assertFalse(piece.contains("\uFFFD") && !c.decoded().contains("\uFFFD"),
                        name + " " + c.label() + ": a split character came out as U+FFFD");
                out.append(piece);
            }
            out.append(sd.flush());
            assertEquals(c.decoded(), out.toString(), name + " " + c.label());
        }
        // the small vocabulary splits CJK and emoji into single bytes, so bytes must have been held back
        assertTrue(heldBack > 100, name + ": only " + heldBack + " tokens ended inside a character");
    }

    @Test
    void streamDecoderOnOneCharacterSplitIntoBytes() {
        BpeTokenizer tok = load("llama3");
        // 龘 = E9 BE 98 appears nowhere in the training text, so it stays three single-byte tokens
        int[] ids = tok.encode("\u9f98");
        assertEquals(3, ids.length);
        StreamDecoder sd = new StreamDecoder(tok, -1);
        assertEquals("", sd.next(ids[0]));
        assertEquals("", sd.next(ids[1]));
        assertEquals("\u9f98", sd.next(ids[2]));
        assertEquals("", sd.flush());
        // an unfinished character at the end comes out as U+FFFD on flush
        StreamDecoder cut = new StreamDecoder(tok, -1);
        assertEquals("", cut.next(ids[0]));
        assertEquals("\uFFFD", cut.flush());
    }

    @Test
    void specialTokensAreMatchedBeforePreTokenization() {
        BpeTokenizer tok = load("llama3");
        OptionalInt bos = tok.id("<|begin_of_text|>");
        OptionalInt eos = tok.id("<|end_of_text|>");
        assertTrue(bos.isPresent() && eos.isPresent());
        assertTrue(tok.isSpecial(bos.getAsInt()));
        assertFalse(tok.isSpecial(tok.encode("a")[0]));
        assertArrayEquals(new int[] {bos.getAsInt()}, tok.encode("<|begin_of_text|>"));
        int[] ids = tok.encode("x<|end_of_text|>y");
        assertEquals(3, ids.length);
        assertEquals(eos.getAsInt(), ids[1]);
        assertEquals("<|begin_of_text|>", new String(tok.tokenBytes(-1, bos.getAsInt()), StandardCharsets.UTF_8));
        assertEquals("<|begin_of_text|>", tok.tokenString(bos.getAsInt()));
        assertTrue(tok.id("<|no_such_token|>").isEmpty());
        // a vocabulary entry by its byte-level string
        assertEquals(OptionalInt.of(tok.encode(" the")[0]), tok.id("\u0120the"));
    }

    @Test
    void ignoreMergesEmitsWholeWordsFromTheVocabulary() {
        // " Normans" is a vocabulary entry that no merge sequence builds; only ignore_merges (Llama 3) emits it
        BpeTokenizer llama = load("llama3");
        OptionalInt whole = llama.id("\u0120Normans");
        assertTrue(whole.isPresent());
        assertArrayEquals(new int[] {whole.getAsInt()}, llama.encode(" Normans"));
        assertTrue(load("gpt2").encode(" Normans").length > 1);
    }

    @Test
    void addPrefixSpaceAddsOneSpaceToEachPiece(@TempDir Path tmp) throws IOException {
        String json = Files.readString(TokenizerFixtures.bpeJson("gpt2"));
        String pre = "\"pre_tokenizer\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": false";
        assertTrue(json.contains(pre));
        Path f = tmp.resolve("tokenizer.json");
        Files.writeString(f, json.replace(pre, pre.replace("false", "true")));
        BpeTokenizer prefixed = BpeTokenizer.fromJson(f);
        BpeTokenizer plain = load("gpt2");
        assertArrayEquals(plain.encode(" hello world"), prefixed.encode("hello world"));
        assertArrayEquals(plain.encode(" hello"), prefixed.encode(" hello"));
    }

    @Test
    void encodeIsThreadSafe() {
        BpeTokenizer tok = load("llama3");
        List<TokenizerFixtures.Case> cases = TokenizerFixtures.cases("llama3");
        IntStream.range(0, cases.size() * 4).parallel().forEach(i -> {
            TokenizerFixtures.Case c = cases.get(i % cases.size());
            assertArrayEquals(c.ids(), tok.encode(c.text()), c.label());
        });
    }

    @Test
    void longInputsStayLinear() {
        BpeTokenizer tok = load("llama3");
        StringBuilder b = new StringBuilder();
        List<String> lines = TokenizerFixtures.lines();
        while (b.length() < 400_000) b.append(String.join("\n", lines)).append('\n');
        String big = b.toString();
        String spaces = " ".repeat(100_000) + "x" + "=".repeat(100_000);
        long t0 = System.nanoTime();
        int[] ids = tok.encode(big);
        int[] ws = tok.encode(spaces);
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals(big, tok.decode(ids));
        assertEquals(spaces, tok.decode(ws));
        assertTrue(s < 20, "encoding 600 KB took " + s + " s");
    }

    @Test
    void vocabularySizeCountsAddedTokens() {
        assertEquals(508, load("llama3").vocabSize());
        assertEquals(505, load("qwen2").vocabSize());
        assertEquals(501, load("gpt2").vocabSize());
        assertEquals(503, load("smollm2").vocabSize());
        assertEquals(0, load("gpt2").encode("").length);
    }

    // ---------------------------------------------------------------- bad input

    private static SacException failFor(Path tmp, String json) throws IOException {
        Path f = tmp.resolve("broken-tokenizer.json");
        Files.writeString(f, json);
        SacException e = assertThrows(SacException.class, () -> BpeTokenizer.fromJson(f));
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    private static String fixture() throws IOException {
        return Files.readString(TokenizerFixtures.bpeJson("llama3"));
    }

    @Test
    void missingModelIsNamed(@TempDir Path tmp) throws IOException {
        SacException e = failFor(tmp, "{\"version\": \"1.0\", \"added_tokens\": []}");
        assertTrue(e.getMessage().endsWith("missing \"model\""), e.getMessage());
    }

    @Test
    void unknownModelTypeIsNamed(@TempDir Path tmp) throws IOException {
        SacException e = failFor(tmp, fixture().replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\""));
        assertTrue(e.getMessage().contains("\"WordPiece\" is not supported"), e.getMessage());
    }

    @Test
    void badMergesAreNamed(@TempDir Path tmp) throws IOException {
        String json = fixture();
        int at = json.indexOf("\"merges\": [") + "\"merges\": [".length();
        SacException three = failFor(tmp, json.substring(0, at) + "\n      \"a b c\"," + json.substring(at));
        assertTrue(three.getMessage().contains("merge 0 \"a b c\" is not two tokens"), three.getMessage());
        SacException unknown = failFor(tmp, json.substring(0, at) + "\n      \"\u4e2d x\"," + json.substring(at));
        assertTrue(unknown.getMessage().contains("\"\u4e2d\" is not in the vocabulary"), unknown.getMessage());
        SacException notString = failFor(tmp, json.substring(0, at) + "\n      17," + json.substring(at));
        assertTrue(notString.getMessage().contains("merge 0 must be"), notString.getMessage());
    }

    @Test
    void otherUnsupportedOrBrokenFilesAreNamed(@TempDir Path tmp) throws IOException {
        String json = fixture();
        assertTrue(failFor(tmp, json.substring(0, json.length() / 2)).getMessage().contains("invalid JSON"));
        assertTrue(failFor(tmp, json.replace("\"byte_fallback\": false", "\"byte_fallback\": true"))
                .getMessage().contains("byte_fallback"));
        assertTrue(failFor(tmp, json.replace("\"behavior\": \"Isolated\"", "\"behavior\": \"Contiguous\""))
                .getMessage().contains("Contiguous"));
        assertTrue(failFor(tmp, json.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}"))
                .getMessage().contains("\"Lowercase\" is not supported"));
        assertTrue(failFor(tmp, json.replace("\"type\": \"ByteLevel\",\n        \"add_prefix_space\": false",
                "\"type\": \"Whitespace\",\n        \"add_prefix_space\": false")).getMessage().contains("Whitespace"));
        assertTrue(failFor(tmp, json.replace("\"!\": 0,", "\"!\": -4,")).getMessage().contains("has id -4"));
        assertTrue(failFor(tmp, json.replace("\"Regex\": \"(?i:", "\"Regex\": \"\\\\G(?i:")).getMessage()
                .contains("\\G"));
        Path missing = tmp.resolve("nope.json");
        SacException e = assertThrows(SacException.class, () -> BpeTokenizer.fromJson(missing));
        assertTrue(e.getMessage().startsWith(missing + ": cannot read"), e.getMessage());
    }

    @Test
    void outOfRangeIdsAreRefused() {
        BpeTokenizer tok = load("gpt2");
        SacException e = assertThrows(SacException.class, () -> tok.tokenBytes(-1, 501));
        assertTrue(e.getMessage().contains("token id 501"), e.getMessage());
        assertThrows(SacException.class, () -> tok.decode(new int[] {-1}));
    }

    @Test
    void theRegexTranslationKeepsUnicodeWhitespace() {
        // \s must be Unicode White_Space as in Oniguruma: NBSP and U+3000 are spaces, so they are split off
        BpeTokenizer tok = load("llama3");
        String s = "a\u00a0\u00a0b\u3000c";
        assertEquals(s, tok.decode(tok.encode(s)));
        var p = OnigRegex.compile(OnigRegex.LLAMA3, "test");
        var m = p.matcher(s);
        List<String> pieces = new java.util.ArrayList<>();
        while (m.find()) pieces.add(m.group());
        assertEquals(List.of("a", "\u00a0", "\u00a0b", "\u3000c"), pieces, Arrays.toString(pieces.toArray()));
    }
}
