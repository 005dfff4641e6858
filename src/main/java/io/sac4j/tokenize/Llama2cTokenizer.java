package io.sac4j.tokenize;

import io.sac4j.SacException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The SentencePiece-style tokenizer of llama2.c (tokenizer.bin: int32 max_token_length, then per token float32
 * score, int32 length, bytes; little-endian), encoding exactly as Karpathy's run.c {@code encode()} with no BOS/EOS:
 * <ol>
 *   <li>non-empty text gets the " " token in front (SentencePiece's dummy prefix);</li>
 *   <li>each UTF-8 character becomes its token, or its bytes become byte tokens (byte + 3, "&lt;0xXX&gt;");</li>
 *   <li>while some adjacent pair concatenates to a vocabulary entry, the pair whose entry scores highest (the
 *       leftmost on ties) is merged.</li>
 * </ol>
 * run.c rescans all pairs after every merge (quadratic); this finds the same sequence of merges with a heap, so
 * long contexts stay fast. The same algorithm serves GGUF "llama" vocabularies, where spaces are written "▁",
 * byte tokens are found by name and control/user-defined tokens are matched in the text first.
 */
public final class Llama2cTokenizer implements Tokenizer {
    private static final float NO_MERGE = -1e10f; // run.c's initial best_score: pairs must score above it

    private final String source;
    /** Token content as C strings (up to a NUL), one char per byte, for byte-exact lookups. */
    private final String[] keys;
    private final float[] scores;
    private final Map<String, Integer> lookup;
    private final int[] byteIds;
    private final int dummyPrefix; // id of " " (or "▁"); -1 when the prefix is off or there is no such token
    private final boolean addDummyPrefix;
    private final boolean spaceAsMeta; // GGUF: spaces are written U+2581 in the vocabulary
    private final int bosId;
    private final byte[][] pieces;
    private final byte[][] piecesAfterBos;
    private final AddedTokens specials; // null for llama2.c files: run.c matches none
    private final Map<String, Integer> specialIds = new HashMap<>();

    private Llama2cTokenizer(String source, byte[][] tokens, float[] scores, int[] byteIds, boolean addDummyPrefix,
                             boolean spaceAsMeta, int bosId, long[] tokenTypes) {
        this.source = source;
        this.scores = scores;
        this.byteIds = byteIds;
        this.addDummyPrefix = addDummyPrefix;
        this.spaceAsMeta = spaceAsMeta;
        this.bosId = bosId;
        int n = tokens.length;
        keys = new String[n];
        lookup = new HashMap<>(n * 2);
        pieces = new byte[n][];
        piecesAfterBos = new byte[n][];
        List<AddedTokens.Token> added = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] t = tokens[i];
            int len = 0;
            while (len < t.length && t[len] != 0) len++;
            keys[i] = new String(t, 0, len, StandardCharsets.ISO_8859_1);
            lookup.putIfAbsent(keys[i], i); // no duplicates in real files; the first id wins otherwise
            byte[] piece = spaceAsMeta ? metaToSpace(t, len) : java.util.Arrays.copyOf(t, len);
            int type = tokenTypes == null ? 1 : (int) tokenTypes[i];
            pieces[i] = bytePiece(piece, type);
            // run.c: after BOS a leading space is dropped (SentencePiece's dummy prefix), then <0xXX> is read
            piecesAfterBos[i] = piece.length > 0 && piece[0] == ' '
                    ? bytePiece(java.util.Arrays.copyOfRange(piece, 1, piece.length), type) : pieces[i];
            if (tokenTypes != null && (type == 3 || type == 4) && len > 0) {
                String content = new String(t, 0, len, StandardCharsets.UTF_8);
                added.add(new AddedTokens.Token(i, content, type == 3, false, false, false));
                specialIds.putIfAbsent(content, i);
            }
        }
        specials = added.isEmpty() ? null : new AddedTokens(added, AddedTokens.Token::content);
        Integer sp = lookup.get(spaceAsMeta ? latin1("\u2581") : " ");
        dummyPrefix = sp == null ? -1 : sp;
    }

    private static String latin1(String s) {
        return new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
    }

    /** "▁" (E2 96 81) becomes a space in what decoding prints. */
    private static byte[] metaToSpace(byte[] t, int len) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(len);
        for (int i = 0; i < len; i++) {
            if (i + 2 < len && (t[i] & 0xff) == 0xe2 && (t[i + 1] & 0xff) == 0x96 && (t[i + 2] & 0xff) == 0x81) {
                out.write(' ');
                i += 2;
            } else {
                out.write(t[i]);
            }
        }
        return out.toByteArray();
    }

    /**
     * run.c decode(): a piece reading "&lt;0x" followed by hex digits (sscanf "&lt;0x%02hhX&gt;") stands for that
     * byte. For GGUF vocabularies with token types only type 6 (byte) tokens are read that way.
     */
    private static byte[] bytePiece(byte[] piece, int type) {
        if (type != 1 && type != 6) return piece;
        if (piece.length >= 4 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x') {
            int v = 0;
            int digits = 0;
            for (int i = 3; i < piece.length && digits < 2; i++, digits++) {
                int d = Character.digit(piece[i], 16);
                if (d < 0) break;
                v = v * 16 + d;
            }
            if (digits > 0) return new byte[] {(byte) v};
        }
        return piece;
    }

    // ---------------------------------------------------------------- factories

    /** Reads a llama2.c tokenizer.bin with {@code vocabSize} tokens (the model header says how many). */
    public static Llama2cTokenizer load(Path file, int vocabSize) {
        // a FIFO (a downloaded tar archive can hold one) blocks forever, a device such as /dev/zero never ends
        if (Files.exists(file) && !Files.isRegularFile(file) && !Files.isDirectory(file))
            throw new SacException(file, "is not a regular file (a FIFO or a device?)");
        byte[] data;
        try {
            data = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new SacException(file, "cannot read: " + e.getMessage());
        }
        return load(data, file.toString(), vocabSize);
    }

    /** Reads a tokenizer.bin held in memory (a bundled resource); {@code name} names it in error messages. */
    public static Llama2cTokenizer load(byte[] data, String name, int vocabSize) {
        return load(MemorySegment.ofArray(data), name, vocabSize);
    }

    public static Llama2cTokenizer load(MemorySegment data, String name, int vocabSize) {
        if (vocabSize < 259) {
            throw new SacException(name, "vocabulary size " + vocabSize + " is too small for a llama2.c tokenizer"
                    + " (ids 3..258 are the byte tokens)");
        }
        long size = data.byteSize();
        var i32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        var f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        if (size < 4) throw new SacException(name, "truncated: " + size + " bytes, no header");
        int maxLen = data.get(i32, 0);
        if (maxLen <= 0) throw new SacException(name, "corrupt header: max_token_length " + maxLen);
        // each token takes at least 8 bytes, so a file this size holds at most cap of them: a corrupt vocabulary
        // size then fails below as a truncation instead of allocating for it
        int cap = (int) Math.min(vocabSize, (size - 4) / 8 + 1);
        byte[][] tokens = new byte[cap][];
        float[] scores = new float[cap];
        long off = 4;
        for (int i = 0; i < vocabSize; i++) {
            if (off + 8 > size) {
                throw new SacException(name, "truncated at token " + i + " of " + vocabSize + " (" + size + " bytes)");
            }
            scores[i] = data.get(f32, off);
            int len = data.get(i32, off + 4);
            off += 8;
            if (len < 0) throw new SacException(name, "token " + i + " of " + vocabSize + " has negative length " + len);
            if (len > maxLen) {
                throw new SacException(name, "token " + i + " of " + vocabSize + " is " + len
                        + " bytes, longer than max_token_length " + maxLen);
            }
            if (off + len > size) {
                throw new SacException(name, "truncated at token " + i + " of " + vocabSize + " (" + size + " bytes)");
            }
            tokens[i] = data.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE);
            off += len;
        }
        int[] byteIds = new int[256];
        for (int b = 0; b < 256; b++) byteIds[b] = b + 3; // run.c's fixed byte fallback
        return new Llama2cTokenizer(name, tokens, scores, byteIds, true, false, 1, null);
    }

    /**
     * A GGUF "llama" (SentencePiece) vocabulary: spaces written "▁", byte tokens "&lt;0xXX&gt;" found by name
     * (a byte without one falls back to {@code unkId}), control (3) and user-defined (4) tokens matched in text.
     */
    static Llama2cTokenizer fromSentencePiece(String source, String[] tokens, float[] scores, long[] tokenTypes,
                                              int bosId, int unkId, boolean addSpacePrefix) {
        byte[][] raw = new byte[tokens.length][];
        Map<String, Integer> byName = new HashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            raw[i] = tokens[i].getBytes(StandardCharsets.UTF_8);
            if (tokenTypes == null || tokenTypes[i] == 6) byName.putIfAbsent(tokens[i], i);
        }
        int[] byteIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = byName.get(String.format("<0x%02X>", b));
            byteIds[b] = id != null ? id : unkId;
        }
        return new Llama2cTokenizer(source, raw, scores, byteIds, addSpacePrefix, true, bosId, tokenTypes);
    }

    // ---------------------------------------------------------------- Tokenizer

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 2 + 4);
        if (specials == null) {
            encodeText(text, true, out);
        } else {
            // as llama.cpp does: the dummy prefix goes in front of text at the start and after each special token
            boolean afterSpecial = true;
            for (AddedTokens.Segment seg : specials.split(text)) {
                if (seg.token() != null) {
                    out.add(seg.token().id());
                    afterSpecial = true;
                } else if (!seg.text().isEmpty()) {
                    encodeText(seg.text(), afterSpecial, out);
                    afterSpecial = false;
                }
            }
        }
        return out.toArray();
    }

    private void encodeText(String text, boolean prefix, IntList out) {
        if (text.isEmpty()) return;
        if (spaceAsMeta) text = text.replace(" ", "\u2581");
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        IntList ids = new IntList(utf8.length + 1);
        if (prefix && addDummyPrefix) {
            if (dummyPrefix < 0) {
                throw new SacException(source, "the vocabulary has no \"" + (spaceAsMeta ? "\u2581" : " ")
                        + "\" token for the dummy prefix");
            }
            ids.add(dummyPrefix);
        }
        // one token per UTF-8 character: a lead byte and up to 3 continuation bytes, as run.c groups them
        int i = 0;
        while (i < utf8.length) {
            int start = i++;
            while (i < utf8.length && (utf8[i] & 0xc0) == 0x80 && i - start < 4) i++;
            Integer id = lookup.get(new String(utf8, start, i - start, StandardCharsets.ISO_8859_1));
            if (id != null) {
                ids.add(id);
            } else {
                for (int k = start; k < i; k++) ids.add(byteIds[utf8[k] & 0xff]);
            }
        }
        out.addAll(merge(ids.toArray()));
    }

    /** Sort key of a merge: higher score first, then the leftmost position. */
    private static long rank(float score, int pos) {
        int bits = Float.floatToIntBits(score + 0.0f); // + 0.0f turns -0.0 into 0.0: run.c's > sees them equal
        int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // ascending with the float value
        return ((long) ~ordered << 32) | pos; // ~ makes higher scores smaller
    }

    private int pairId(int a, int b) {
        Integer id = lookup.get(keys[a].concat(keys[b]));
        if (id == null) return -1;
        float s = scores[id];
        return s > NO_MERGE ? id : -1; // NaN never merges either
    }

    private int[] merge(int[] ids) {
        int n = ids.length;
        if (n < 2) return ids;
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            int m = pairId(ids[i], ids[i + 1]);
            if (m >= 0) heap.push(rank(scores[m], i));
        }
        int left = n;
        while (!heap.isEmpty()) {
            long e = heap.pop();
            int at = (int) e;
            if (ids[at] < 0 || next[at] < 0) continue;
            int right = next[at];
            int m = pairId(ids[at], ids[right]);
            if (m < 0 || rank(scores[m], at) != e) continue; // stale: the pair changed since it was pushed
            ids[at] = m;
            ids[right] = -1;
            int nn = next[right];
            next[at] = nn;
            if (nn >= 0) prev[nn] = at;
            left--;
            int p = prev[at];
            if (p >= 0) {
                int pm = pairId(ids[p], ids[at]);
                if (pm >= 0) heap.push(rank(scores[pm], p));
            }
            if (nn >= 0) {
                int nm = pairId(ids[at], ids[nn]);
                if (nm >= 0) heap.push(rank(scores[nm], at));
            }
        }
        int[] out = new int[left];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) out[k++] = ids[i];
        return out;
    }

    @Override
    public byte[] tokenBytes(int prev, int token) {
        if (token < 0 || token >= pieces.length) {
            throw new SacException(source, "token id " + token + " is outside the vocabulary of " + pieces.length);
        }
        return (prev == bosId ? piecesAfterBos[token] : pieces[token]).clone();
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    /** The id of a token by its content (as the file writes it, e.g. "&lt;0x0A&gt;" or " the"). */
    public OptionalInt id(String tokenString) {
        Integer id = specialIds.get(tokenString);
        if (id == null) id = lookup.get(latin1(tokenString));
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    public int bosId() {
        return bosId;
    }

    public String source() {
        return source;
    }

    @Override
    public String toString() {
        return "Llama2cTokenizer[" + source + ", " + pieces.length + " tokens]";
    }
}
