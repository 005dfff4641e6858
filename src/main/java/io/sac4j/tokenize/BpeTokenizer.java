package io.sac4j.tokenize;

import io.sac4j.SacException;
import io.sac4j.load.Json;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-level BPE as in Hugging Face tokenizer.json files of GPT-2, Llama 3, Qwen2.5 and SmolLM2 (and the same data
 * from GGUF metadata). Encoding follows the tokenizers library step by step:
 * <ol>
 *   <li>added tokens that are special or not normalized are cut out of the raw text (leftmost, longest);</li>
 *   <li>the rest is normalized (NFC for Qwen2) and cut again on normalized added tokens;</li>
 *   <li>the pre-tokenizer splits it into words (Split regex, Digits, ByteLevel);</li>
 *   <li>each word, as UTF-8 bytes, starts as one token per byte and the merge of lowest rank is applied, leftmost
 *       first, until none applies; with ignore_merges (Llama 3) a word that is itself in the vocabulary is one
 *       token.</li>
 * </ol>
 * Word results are cached (bounded), so re-encoding similar text costs mostly the regex split.
 */
public final class BpeTokenizer implements Tokenizer {

    /** Pre-tokenization of GGUF files, chosen by their tokenizer.ggml.pre. */
    public enum Preset {
        /** GPT-2's ByteLevel regex. */
        GPT2,
        /** Llama 3: its Split regex, ignore_merges. */
        LLAMA3,
        /** Qwen2: NFC, its Split regex. */
        QWEN2,
        /** SmolLM / StarCoder: each digit alone, then GPT-2's regex. */
        SMOLLM
    }

    private static final int CACHE_LIMIT = 65_536;
    private static final int CACHE_MAX_WORD = 256;

    private final String source;
    private final Map<String, Integer> vocab;
    private final int[] byteIds = new int[256];
    private final PairMap merges; // (left, right) -> rank << 32 | merged id
    private final boolean ignoreMerges;
    private final boolean nfc;
    private final AddedTokens rawAdded;
    private final AddedTokens normalizedAdded;
    private final Map<String, Integer> addedIds = new HashMap<>();
    private final PreTokenizer pre;
    private final String[] strings;
    private final byte[][] bytes;
    private final boolean[] special;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();
    /** Words with more symbols than this merge through a heap instead of rescanning (package-private for tests). */
    int heapThreshold = 48;

    private BpeTokenizer(String source, Map<String, Integer> vocab, List<String[]> mergeList, List<AddedTokens.Token> added,
                         boolean nfc, PreTokenizer pre, boolean ignoreMerges) {
        this.source = source;
        this.vocab = vocab;
        this.nfc = nfc;
        this.pre = pre;
        this.ignoreMerges = ignoreMerges;

        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.charOf(b)));
            if (id == null) {
                throw new SacException(source, String.format("the vocabulary has no token for byte 0x%02X (\"%c\"),"
                        + " so it is not a byte-level BPE vocabulary", b, ByteLevel.charOf(b)));
            }
            byteIds[b] = id;
        }

        merges = new PairMap(mergeList.size());
        for (int r = 0; r < mergeList.size(); r++) {
            String[] m = mergeList.get(r);
            Integer a = vocab.get(m[0]);
            Integer b = vocab.get(m[1]);
            Integer ab = vocab.get(m[0] + m[1]);
            String missing = a == null ? m[0] : b == null ? m[1] : ab == null ? m[0] + m[1] : null;
            if (missing != null) {
                throw new SacException(source, "merge " + r + " " + OnigRegex.quote(m[0] + " " + m[1]) + ": "
                        + OnigRegex.quote(missing) + " is not in the vocabulary");
            }
            // a repeated merge keeps the last rank, as the tokenizers library does
            merges.put(a, b, ((long) r << 32) | ab);
        }

        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (AddedTokens.Token t : added) size = Math.max(size, t.id() + 1);
        long count = vocab.size() + (long) added.size();
        if (size > 4 * count + 1024) { // ids far beyond the number of tokens: corrupt, and would waste memory
            throw new SacException(source, "token ids go up to " + (size - 1) + " for only " + count + " tokens");
        }
        strings = new String[size];
        bytes = new byte[size][];
        special = new boolean[size];
        for (var e : vocab.entrySet()) {
            strings[e.getValue()] = e.getKey();
            bytes[e.getValue()] = ByteLevel.decode(e.getKey());
        }
        List<AddedTokens.Token> raw = new ArrayList<>();
        List<AddedTokens.Token> norm = new ArrayList<>();
        for (AddedTokens.Token t : added) {
            strings[t.id()] = t.content();
            bytes[t.id()] = t.content().getBytes(StandardCharsets.UTF_8);
            special[t.id()] = t.special();
            addedIds.putIfAbsent(t.content(), t.id());
            if (t.normalized() && nfc) norm.add(t);
            else raw.add(t);
        }
        for (int i = 0; i < size; i++) if (bytes[i] == null) bytes[i] = new byte[0];
        rawAdded = new AddedTokens(raw, AddedTokens.Token::content);
        normalizedAdded = new AddedTokens(norm, t -> Normalizer.normalize(t.content(), Normalizer.Form.NFC));
    }

    // ---------------------------------------------------------------- factories

    /** Reads a Hugging Face tokenizer.json. */
    public static BpeTokenizer fromJson(Path file) {
        String text;
        // a FIFO (a downloaded tar archive can hold one) blocks forever, a device such as /dev/zero never ends
        if (Files.exists(file) && !Files.isRegularFile(file) && !Files.isDirectory(file))
            throw new SacException(file, "is not a regular file (a FIFO or a device?)");
        try {
            byte[] data = Files.readAllBytes(file);
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(data)).toString();
        } catch (CharacterCodingException e) {
            throw new SacException(file, "not UTF-8 text");
        } catch (IOException e) {
            throw new SacException(file, "cannot read: " + e.getMessage());
        }
        return fromJson(text, file.toString());
    }

    /** Parses tokenizer.json text; {@code sourceName} names it in error messages. */
    public static BpeTokenizer fromJson(String jsonText, String sourceName) {
        Map<String, Object> root = Json.parseObject(jsonText, sourceName);
        if (root.get("model") == null) throw new SacException(sourceName, "missing \"model\"");
        Map<String, Object> model = Json.obj(root, "model", sourceName);

        Object type = model.get("type");
        if (type == null && !model.containsKey("merges")) {
            throw new SacException(sourceName, "model has no \"type\" (only BPE is supported)");
        }
        if (type != null && !"BPE".equals(type)) {
            throw new SacException(sourceName, "tokenizer model type \"" + type + "\" is not supported (only BPE)");
        }
        if (Boolean.TRUE.equals(model.get("byte_fallback"))) {
            throw new SacException(sourceName, "BPE with byte_fallback (SentencePiece style) is not supported;"
                    + " only byte-level BPE is");
        }
        for (String k : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            Object v = model.get(k);
            if (v != null && !"".equals(v)) throw new SacException(sourceName, "BPE " + k + " is not supported");
        }
        boolean ignoreMerges = bool(model, "ignore_merges", sourceName);

        if (!(model.get("vocab") instanceof Map<?, ?> vocabJson)) {
            throw new SacException(sourceName, "model \"vocab\" must be an object of token -> id");
        }
        Map<String, Integer> vocab = new HashMap<>(vocabJson.size() * 2);
        Map<Integer, String> seen = new HashMap<>(vocabJson.size() * 2);
        for (var e : vocabJson.entrySet()) {
            String tok = (String) e.getKey();
            if (!(e.getValue() instanceof Long id) || id < 0 || id >= Integer.MAX_VALUE / 2) {
                throw new SacException(sourceName, "vocab entry " + OnigRegex.quote(tok) + " has id " + e.getValue()
                        + ", not a non-negative integer");
            }
            String other = seen.put(id.intValue(), tok);
            if (other != null) {
                throw new SacException(sourceName, "vocab id " + id + " is used by both " + OnigRegex.quote(other)
                        + " and " + OnigRegex.quote(tok));
            }
            vocab.put(tok, id.intValue());
        }

        if (!(model.get("merges") instanceof List<?> mergesJson)) {
            throw new SacException(sourceName, "model \"merges\" must be a list");
        }
        List<String[]> merges = new ArrayList<>(mergesJson.size());
        for (int r = 0; r < mergesJson.size(); r++) {
            Object m = mergesJson.get(r);
            if (m instanceof String s) {
                merges.add(splitMerge(s, r, sourceName));
            } else if (m instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof String a
                    && pair.get(1) instanceof String b) {
                merges.add(new String[] {a, b});
            } else {
                throw new SacException(sourceName, "merge " + r + " must be \"a b\" or [\"a\", \"b\"], got "
                        + OnigRegex.quote(String.valueOf(m)));
            }
        }

        List<AddedTokens.Token> added = new ArrayList<>();
        Object addedJson = root.get("added_tokens");
        if (addedJson != null) {
            if (!(addedJson instanceof List<?> list)) throw new SacException(sourceName, "\"added_tokens\" must be a list");
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof Map<?, ?> t)) {
                    throw new SacException(sourceName, "added_tokens[" + i + "] must be an object");
                }
                if (!(t.get("id") instanceof Long id) || id < 0 || id >= Integer.MAX_VALUE / 2) {
                    throw new SacException(sourceName, "added_tokens[" + i + "] has no valid \"id\"");
                }
                if (!(t.get("content") instanceof String content) || content.isEmpty()) {
                    throw new SacException(sourceName, "added_tokens[" + i + "] has no \"content\"");
                }
                boolean isSpecial = flag(t, "special", false, sourceName);
                added.add(new AddedTokens.Token(id.intValue(), content, isSpecial, flag(t, "lstrip", false, sourceName),
                        flag(t, "rstrip", false, sourceName), flag(t, "normalized", !isSpecial, sourceName)));
            }
        }

        boolean nfc = normalizer(root.get("normalizer"), sourceName);
        PreTokenizer pre = PreTokenizer.fromJson(root.get("pre_tokenizer"), sourceName);
        return new BpeTokenizer(sourceName, vocab, merges, added, nfc, pre, ignoreMerges);
    }

    /**
     * Byte-level BPE from GGUF-style arrays: {@code tokens[id]} in byte-level form, {@code merges} as "a b",
     * {@code tokenTypes} (nullable) where 3 (control) and 4 (user defined) mark added tokens written as plain text
     * that are matched in the input before pre-tokenization.
     */
    public static BpeTokenizer fromArrays(String source, String[] tokens, long[] tokenTypes, String[] merges,
                                          Preset preset) {
        if (tokenTypes != null && tokenTypes.length != tokens.length) {
            throw new SacException(source, "token_type has " + tokenTypes.length + " entries for " + tokens.length
                    + " tokens");
        }
        Map<String, Integer> vocab = new HashMap<>(tokens.length * 2);
        List<AddedTokens.Token> added = new ArrayList<>();
        for (int id = 0; id < tokens.length; id++) {
            String t = tokens[id];
            if (t == null) throw new SacException(source, "token " + id + " is missing");
            int type = tokenTypes == null ? 1 : (int) tokenTypes[id];
            if ((type == 3 || type == 4) && !t.isEmpty()) {
                added.add(new AddedTokens.Token(id, t, type == 3, false, false, false));
            } else {
                vocab.putIfAbsent(t, id); // a repeated string keeps its first id
            }
        }
        List<String[]> mergeList = new ArrayList<>(merges.length);
        for (int r = 0; r < merges.length; r++) mergeList.add(splitMerge(merges[r], r, source));
        PreTokenizer pre = switch (preset) {
            case GPT2 -> new PreTokenizer.ByteLevelStep(false, true, source);
            case LLAMA3, QWEN2 -> new PreTokenizer.Sequence(List.of(
                    new PreTokenizer.RegexSplit(OnigRegex.compile(
                            preset == Preset.LLAMA3 ? OnigRegex.LLAMA3 : OnigRegex.QWEN2, source), false, source),
                    new PreTokenizer.ByteLevelStep(false, false, source)));
            case SMOLLM -> new PreTokenizer.Sequence(List.of(new PreTokenizer.Digits(true),
                    new PreTokenizer.ByteLevelStep(false, true, source)));
        };
        return new BpeTokenizer(source, vocab, mergeList, added, preset == Preset.QWEN2, pre, preset == Preset.LLAMA3);
    }

    private static String[] splitMerge(String s, int rank, String source) {
        int sp = s.indexOf(' ');
        if (sp <= 0 || sp == s.length() - 1 || s.indexOf(' ', sp + 1) >= 0) {
            throw new SacException(source, "merge " + rank + " " + OnigRegex.quote(s)
                    + " is not two tokens separated by one space");
        }
        return new String[] {s.substring(0, sp), s.substring(sp + 1)};
    }

    private static boolean normalizer(Object cfg, String source) {
        if (cfg == null) return false;
        if (!(cfg instanceof Map<?, ?> m)) throw new SacException(source, "\"normalizer\" must be an object or null");
        Object type = m.get("type");
        if ("NFC".equals(type)) return true;
        if ("Sequence".equals(type) && m.get("normalizers") instanceof List<?> list) {
            boolean any = false;
            for (Object o : list) any |= normalizer(o, source);
            return any;
        }
        throw new SacException(source, "normalizer type \"" + type + "\" is not supported (only NFC)");
    }

    private static boolean bool(Map<String, Object> m, String key, String source) {
        Object v = m.get(key);
        if (v == null) return false;
        if (v instanceof Boolean b) return b;
        throw new SacException(source, "\"" + key + "\" must be true or false, got " + v);
    }

    private static boolean flag(Map<?, ?> m, String key, boolean dflt, String source) {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (v instanceof Boolean b) return b;
        throw new SacException(source, "added token \"" + key + "\" must be true or false, got " + v);
    }

    // ---------------------------------------------------------------- Tokenizer

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 3 + 4);
        for (AddedTokens.Segment seg : rawAdded.split(text)) {
            if (seg.token() != null) {
                out.add(seg.token().id());
                continue;
            }
            String t = seg.text();
            if (t.isEmpty()) continue;
            if (nfc && !Normalizer.isNormalized(t, Normalizer.Form.NFC)) t = Normalizer.normalize(t, Normalizer.Form.NFC);
            if (normalizedAdded.isEmpty()) {
                encodeWords(t, out);
                continue;
            }
            for (AddedTokens.Segment s2 : normalizedAdded.split(t)) {
                if (s2.token() != null) out.add(s2.token().id());
                else if (!s2.text().isEmpty()) encodeWords(s2.text(), out);
            }
        }
        return out.toArray();
    }

    private void encodeWords(String text, IntList out) {
        for (String word : pre.split(text)) {
            int[] ids = cache.get(word);
            if (ids == null) {
                ids = bpe(word);
                if (word.length() <= CACHE_MAX_WORD) {
                    if (cache.size() >= CACHE_LIMIT) cache.clear(); // crude bound: the working set refills quickly
                    cache.put(word, ids);
                }
            }
            out.addAll(ids);
        }
    }

    /** BPE of one pre-tokenized word. */
    int[] bpe(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(ByteLevel.encode(word));
            if (whole != null) return new int[] {whole};
        }
        byte[] utf8 = word.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[utf8.length];
        for (int i = 0; i < utf8.length; i++) ids[i] = byteIds[utf8[i] & 0xff];
        return ids.length <= heapThreshold ? mergeByScan(ids) : mergeByHeap(ids);
    }

    /** Short words: rescan for the lowest-rank pair (leftmost on ties) and merge it, until none is left. */
    private int[] mergeByScan(int[] ids) {
        int n = ids.length;
        while (n > 1) {
            long best = Long.MAX_VALUE;
            int at = -1;
            for (int i = 0; i + 1 < n; i++) {
                long v = merges.get(ids[i], ids[i + 1], -1);
                if (v >= 0 && v < best) { // rank is in the high bits; strict < keeps the leftmost
                    best = v;
                    at = i;
                }
            }
            if (at < 0) break;
            ids[at] = (int) best;
            System.arraycopy(ids, at + 2, ids, at + 1, n - at - 2);
            n--;
        }
        return n == ids.length ? ids : Arrays.copyOf(ids, n);
    }

    /**
     * Long words: the same merge order through a heap of (rank, position of the left symbol), stale entries skipped
     * when popped. Positions are the symbols' original byte offsets, which keep their left-to-right order.
     */
    private int[] mergeByHeap(int[] ids) {
        int n = ids.length;
        int[] next = new int[n];
        int[] prev = new int[n];
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        for (int i = 0; i + 1 < n; i++) push(heap, ids[i], ids[i + 1], i);
        int left = n;
        while (!heap.isEmpty()) {
            long e = heap.pop();
            int at = (int) e;
            int rank = (int) (e >>> 32);
            if (ids[at] < 0) continue;
            int right = next[at];
            if (right < 0) continue;
            long v = merges.get(ids[at], ids[right], -1);
            if (v < 0 || (int) (v >>> 32) != rank) continue;
            ids[at] = (int) v;
            ids[right] = -1;
            int nn = next[right];
            next[at] = nn;
            if (nn >= 0) prev[nn] = at;
            left--;
            if (prev[at] >= 0) push(heap, ids[prev[at]], ids[at], prev[at]);
            if (nn >= 0) push(heap, ids[at], ids[nn], at);
        }
        int[] out = new int[left];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) out[k++] = ids[i];
        return out;
    }

    private void push(LongHeap heap, int a, int b, int at) {
        long v = merges.get(a, b, -1);
        if (v >= 0) heap.push((v & 0xffffffff00000000L) | at);
    }

    @Override
    public byte[] tokenBytes(int prev, int token) {
        if (token < 0 || token >= bytes.length) {
            throw new SacException(source, "token id " + token + " is outside the vocabulary of " + bytes.length);
        }
        return bytes[token].clone();
    }

    @Override
    public int vocabSize() {
        return bytes.length;
    }

    // ---------------------------------------------------------------- lookups

    /** The id of a token written as its string: an added token's content or a vocabulary entry (byte-level form). */
    public OptionalInt id(String tokenString) {
        Integer id = addedIds.get(tokenString);
        if (id == null) id = vocab.get(tokenString);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The token's string as the file writes it (byte-level form, or an added token's content); null for a gap. */
    public String tokenString(int id) {
        return id >= 0 && id < strings.length ? strings[id] : null;
    }

    /** Whether {@code id} is an added token marked special (BOS, EOS, chat markers). */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    public String source() {
        return source;
    }

    @Override
    public String toString() {
        return "BpeTokenizer[" + source + ", " + bytes.length + " tokens, " + merges.size() + " merges]";
    }
}
