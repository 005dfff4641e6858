package io.sac4j.tokenize;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Llama2cTokenizer on the real tok512.bin against reference_llama2c.py, a port of llama2.c's run.c. */
class Llama2cTokenizerTest {
    private static final int BOS = 1;

    static Llama2cTokenizer tok512() {
        return Llama2cTokenizer.load(TokenizerFixtures.tok512(), "tok512.bin", 512);
    }

    /** Text as run.c prints a sequence that follows BOS. */
    static String decodeAfterBos(Tokenizer tok, int[] ids) {
        StreamDecoder sd = new StreamDecoder(tok, BOS);
        StringBuilder b = new StringBuilder();
        for (int id : ids) b.append(sd.next(id));
        return b.append(sd.flush()).toString();
    }

    @Test
    void encodesExactlyAsRunC() {
        Llama2cTokenizer tok = tok512();
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases("tok512")) {
            assertArrayEquals(c.ids(), tok.encode(c.text()), c.label());
        }
    }

    @Test
    void decodesAfterBosAsRunC() {
        Llama2cTokenizer tok = tok512();
        for (TokenizerFixtures.Case c : TokenizerFixtures.cases("tok512")) {
            // the dummy-prefix space is dropped after BOS, so the text comes back exactly
            assertEquals(c.decoded(), decodeAfterBos(tok, c.ids()), c.label());
            assertEquals(c.text(), c.decoded(), c.label());
        }
    }

    @Test
    void withoutBosTheDummyPrefixIsPrinted() {
        Llama2cTokenizer tok = tok512();
        int[] ids = tok.encode("Hello");
        assertEquals(" Hello", tok.decode(ids));
        assertEquals("Hello", decodeAfterBos(tok, ids));
        assertEquals(0, tok.encode("").length);
    }

    @Test
    void byteFallbackAndStreaming() {
        Llama2cTokenizer tok = tok512();
        // "中" is not in the 512-token vocabulary: its three UTF-8 bytes become tokens byte + 3
        int[] ids = tok.encode("\u4e2d");
        assertArrayEquals(new int[] {429, 0xe4 + 3, 0xb8 + 3, 0xad + 3}, ids);
        StreamDecoder sd = new StreamDecoder(tok, BOS);
        assertEquals("", sd.next(ids[0])); // the dummy space, dropped after BOS
        assertEquals("", sd.next(ids[1]));
        assertEquals("", sd.next(ids[2]));
        assertEquals("\u4e2d", sd.next(ids[3]));
        assertEquals(3 + 0x41, tok.id("<0x41>").getAsInt());
        assertEquals("A", new String(tok.tokenBytes(-1, 3 + 0x41), StandardCharsets.UTF_8));
    }

    @Test
    void loadsFromAFileAndFromMemoryAlike(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("tok512.bin");
        Files.write(f, TokenizerFixtures.tok512());
        Llama2cTokenizer a = Llama2cTokenizer.load(f, 512);
        Llama2cTokenizer b = Llama2cTokenizer.load(MemorySegment.ofArray(TokenizerFixtures.tok512()), "mem", 512);
        String s = "Echoes of vectors unfold, a gentle hum of precision.";
        assertArrayEquals(a.encode(s), b.encode(s));
        assertEquals(512, a.vocabSize());
    }

    // ---------------------------------------------------------------- bad input

    private static SacException failFor(Path tmp, byte[] data, int vocabSize) throws IOException {
        Path f = tmp.resolve("bad-tok.bin");
        Files.write(f, data);
        SacException e = assertThrows(SacException.class, () -> Llama2cTokenizer.load(f, vocabSize));
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    /** Offset of token {@code i}'s record in tok512.bin. */
    private static int offsetOf(byte[] data, int i) {
        ByteBuffer bb = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int off = 4;
        for (int k = 0; k < i; k++) off += 8 + bb.getInt(off + 4);
        return off;
    }

    @Test
    void truncatedFilesNameTheToken(@TempDir Path tmp) throws IOException {
        byte[] data = TokenizerFixtures.tok512();
        int at37 = offsetOf(data, 37);
        for (int cut : new int[] {at37 + 3, at37 + 9}) {
            SacException e = failFor(tmp, Arrays.copyOf(data, cut), 512);
            assertTrue(e.getMessage().contains("truncated at token 37 of 512"), e.getMessage());
        }
        SacException last = failFor(tmp, Arrays.copyOf(data, data.length - 1), 512);
        assertTrue(last.getMessage().contains("truncated at token 511 of 512"), last.getMessage());
        assertTrue(failFor(tmp, new byte[2], 512).getMessage().contains("no header"));
        // asking for more tokens than the file holds is the same as a short file
        assertTrue(failFor(tmp, data, 600).getMessage().contains("truncated at token 512 of 600"));
        // a vocabulary size that cannot fit (a corrupt model header) is a truncation, not an attempt to allocate
        assertTrue(failFor(tmp, data, Integer.MAX_VALUE).getMessage().contains("truncated at token 512 of 2147483647"));
    }

    @Test
    void corruptLengthsAreNamed(@TempDir Path tmp) throws IOException {
        byte[] data = TokenizerFixtures.tok512();
        int at = offsetOf(data, 300);
        byte[] neg = data.clone();
        ByteBuffer.wrap(neg).order(ByteOrder.LITTLE_ENDIAN).putInt(at + 4, -5);
        assertTrue(failFor(tmp, neg, 512).getMessage().contains("token 300 of 512 has negative length -5"));
        byte[] huge = data.clone();
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putInt(at + 4, 1 << 30);
        assertTrue(failFor(tmp, huge, 512).getMessage().contains("longer than max_token_length 10"));
        byte[] header = data.clone();
        ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0);
        assertTrue(failFor(tmp, header, 512).getMessage().contains("max_token_length 0"));
        assertTrue(failFor(tmp, data, 100).getMessage().contains("too small"));
        Path missing = tmp.resolve("absent.bin");
        SacException e = assertThrows(SacException.class, () -> Llama2cTokenizer.load(missing, 512));
        assertTrue(e.getMessage().startsWith(missing + ": cannot read"), e.getMessage());
    }

    @Test
    void outOfRangeIdsAreRefused() {
        SacException e = assertThrows(SacException.class, () -> tok512().tokenBytes(1, 512));
        assertTrue(e.getMessage().startsWith("tok512.bin: token id 512"), e.getMessage());
    }
}
