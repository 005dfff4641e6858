package io.sac4j.fuzz;

import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Fingerprint;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacAdapter;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.fuzz.Mutator.Layout;
import io.sac4j.fuzz.Mutator.Mutant;
import io.sac4j.load.Json;
import io.sac4j.load.LlamaWeights;
import io.sac4j.load.LoadedWeights;
import io.sac4j.load.Llama2cLoader;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.SafetensorsLoader;
import io.sac4j.tokenize.BpeTokenizer;
import io.sac4j.tokenize.Llama2cTokenizer;
import io.sac4j.tokenize.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * The parsers under fuzz, each with its seeds (committed fixtures, or for .sac files a context the bundled model
 * compresses at test time), how an input is put where the parser reads it, the parse itself, and what is done with
 * a successful result (a forward pass, an encode/decode, an answer), so that a file that parses but lies still has
 * to fail cleanly.
 */
final class Targets {
    static final Path FIXTURES = Path.of("src", "test", "resources", "fixtures");
    static final Path BUNDLED = Path.of("src", "main", "resources", "io", "sac4j", "models");
    /** Text every loaded tokenizer encodes: ASCII, accents, CJK, emoji, special-token look-alikes, digits, whitespace. */
    static final String SAMPLE = "Hello, world! It's 2024: naïve café — 日本語 😀 <|endoftext|> <s></s> \n\t  12345 don't\u0000x "
            + "a".repeat(60) + "!";

    private Targets() {
    }

    /** What the targets share: the bundled model (its config fits the adapter fixtures), a backend and SAC on it. */
    static final class Env implements AutoCloseable {
        final Model model = Model.bundled();
        final CpuBackend backend = new CpuBackend(1);
        final Sac sac = Sac.open(model, null, backend);

        ModelConfig config() {
            return model.config();
        }

        @Override
        public void close() {
            sac.close();
            backend.close();
            model.close();
        }
    }

    /** One seed: the bytes that mutate, their layout, and the file they are written to for each case. */
    record Seed(String name, byte[] bytes, Layout layout, Path file) {
    }

    abstract static class Target {
        final String name;
        final Env env;
        final Path work;
        final List<Seed> seeds = new ArrayList<>();

        Target(String name, Env env, Path work) {
            this.name = name;
            this.env = env;
            this.work = mkdirs(work.resolve(name));
        }

        Seed seed(String seedName) {
            for (Seed s : seeds) if (s.name().equals(seedName)) return s;
            throw new IllegalArgumentException(name + " has no seed " + seedName);
        }

        /** The cases every run makes for a seed besides the random ones: truncation at every boundary. */
        List<Mutant> fixed(Seed s) {
            return Mutator.boundaryTruncations(s.bytes(), s.layout());
        }

        Mutant mutate(Seed s, SplittableRandom rnd) {
            return Mutator.random(s.bytes(), s.layout(), rnd);
        }

        /** Writes {@code input} where the seed's file is and parses it; a result is then used. */
        final void run(Seed s, byte[] input) throws Exception {
            Fuzz.write(s.file(), input);
            parse(s);
        }

        abstract void parse(Seed s) throws Exception;
    }

    // ---- the targets --------------------------------------------------------------------------------------------

    static Target byName(String name, Env env, Path work) {
        return switch (name) {
            case "llama2c-bin" -> llama2cBin(env, work);
            case "llama2c-tokenizer" -> llama2cTokenizer(env, work);
            case "safetensors" -> safetensors(env, work);
            case "safetensors-index" -> safetensorsIndex(env, work);
            case "config-json" -> configJson(env, work);
            case "tokenizer-json" -> tokenizerJson(env, work);
            case "gguf" -> gguf(env, work);
            case "adapter-pt" -> adapterPt(env, work);
            case "adapter-safetensors" -> adapterSafetensors(env, work);
            case "sac" -> sacFile(env, work);
            default -> throw new IllegalArgumentException("no fuzz target " + name);
        };
    }

    static Target llama2cBin(Env env, Path work) {
        Target t = new Target("llama2c-bin", env, work) {
            @Override
            void parse(Seed s) {
                try (Arena a = Arena.ofConfined()) {
                    LoadedWeights w = Llama2cLoader.load(s.file(), a);
                    runModel(env, w.config(), w.weights());
                }
            }
        };
        byte[] b = Fuzz.read(BUNDLED.resolve("aidreams260K.bin"));
        t.seeds.add(new Seed("aidreams260K", b, Layouts.llama2cBin(b), t.work.resolve("model.bin")));
        return t;
    }

    static Target llama2cTokenizer(Env env, Path work) {
        Target t = new Target("llama2c-tokenizer", env, work) {
            @Override
            List<Mutant> fixed(Seed s) {
                // 513 token records: a cut at each start is enough (the +-1 cuts are what random truncation is for)
                List<Mutant> out = new ArrayList<>();
                for (int b : s.layout().boundaries()) out.add(new Mutant(Arrays.copyOf(s.bytes(), Math.min(b, s.bytes().length)), "truncated at " + b));
                return out;
            }

            @Override
            void parse(Seed s) {
                useTokenizer(Llama2cTokenizer.load(s.file(), 512));
            }
        };
        byte[] b = Fuzz.read(BUNDLED.resolve("tok512.bin"));
        t.seeds.add(new Seed("tok512", b, Layouts.llama2cTokenizer(b), t.work.resolve("tokenizer.bin")));
        return t;
    }

    static Target safetensors(Env env, Path work) {
        Target t = new Target("safetensors", env, work) {
            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                return rnd.nextBoolean() ? super.mutate(s, rnd) : safetensorsHeader(s.bytes(), rnd);
            }

            @Override
            void parse(Seed s) {
                loadHfDirectory(env, s.file().getParent());
            }
        };
        for (String m : new String[]{"qwen2-gqa-tied", "llama-gqa-bf16"}) {
            Path dir = copyDir(FIXTURES.resolve("models").resolve(m), t.work.resolve(m));
            byte[] b = Fuzz.read(dir.resolve("model.safetensors"));
            t.seeds.add(new Seed(m, b, Layouts.safetensors(b), dir.resolve("model.safetensors")));
        }
        return t;
    }

    /** The seed's header through {@link JsonMutator}, the length field rewritten (or, sometimes, left stale). */
    static Mutant safetensorsHeader(byte[] seed, SplittableRandom rnd) {
        int n = (int) ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        Mutant m = JsonMutator.mutate(new String(seed, 8, n, StandardCharsets.UTF_8), rnd);
        byte[] h = m.bytes();
        long len = rnd.nextInt(8) == 0 ? n : h.length;
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + seed.length - 8 - n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(len).put(h).put(seed, 8 + n, seed.length - 8 - n);
        return new Mutant(out.array(), "header: " + m.what() + (len == n ? " (stale length)" : ""));
    }

    static Target safetensorsIndex(Env env, Path work) {
        Target t = new Target("safetensors-index", env, work) {
            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                return rnd.nextInt(5) == 0 ? super.mutate(s, rnd)
                        : JsonMutator.mutate(new String(s.bytes(), StandardCharsets.UTF_8), rnd);
            }

            @Override
            void parse(Seed s) {
                loadHfDirectory(env, s.file().getParent());
            }
        };
        Path dir = shard(FIXTURES.resolve("models").resolve("llama-gqa-untied"), t.work.resolve("sharded"));
        byte[] b = Fuzz.read(dir.resolve("model.safetensors.index.json"));
        t.seeds.add(new Seed("sharded", b, Mutator.Layout.none(b.length), dir.resolve("model.safetensors.index.json")));
        return t;
    }

    static Target configJson(Env env, Path work) {
        Target t = new Target("config-json", env, work) {
            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                return rnd.nextInt(5) == 0 ? super.mutate(s, rnd)
                        : JsonMutator.mutate(new String(s.bytes(), StandardCharsets.UTF_8), rnd);
            }

            @Override
            void parse(Seed s) {
                loadHfDirectory(env, s.file().getParent());
            }
        };
        for (String m : new String[]{"llama-gqa-untied", "qwen2-gqa-tied"}) {
            Path dir = copyDir(FIXTURES.resolve("models").resolve(m), t.work.resolve(m));
            byte[] b = Fuzz.read(dir.resolve("config.json"));
            t.seeds.add(new Seed(m, b, Mutator.Layout.none(b.length), dir.resolve("config.json")));
        }
        Path dir = copyDir(FIXTURES.resolve("gguf").resolve("tiny-llama"), t.work.resolve("tiny-llama"));
        byte[] g = Fuzz.read(dir.resolve("generation_config.json"));
        t.seeds.add(new Seed("tiny-llama-generation", g, Mutator.Layout.none(g.length), dir.resolve("generation_config.json")));
        return t;
    }

    static Target tokenizerJson(Env env, Path work) {
        Target t = new Target("tokenizer-json", env, work) {
            @Override
            List<Mutant> fixed(Seed s) {
                return List.of(new Mutant(new byte[0], "empty"));
            }

            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                int op = rnd.nextInt(12);
                if (op == 0) return hostileRegex(s.bytes(), rnd);
                return op < 3 ? super.mutate(s, rnd) : JsonMutator.mutate(new String(s.bytes(), StandardCharsets.UTF_8), rnd);
            }

            @Override
            void parse(Seed s) {
                useTokenizer(BpeTokenizer.fromJson(s.file()));
            }
        };
        for (String m : new String[]{"gpt2", "llama3", "qwen2", "smollm2"}) {
            byte[] b = Fuzz.read(FIXTURES.resolve("tokenizer").resolve(m).resolve("tokenizer.json"));
            t.seeds.add(new Seed(m, b, Mutator.Layout.none(b.length), mkdirs(t.work.resolve(m)).resolve("tokenizer.json")));
        }
        return t;
    }

    static Target gguf(Env env, Path work) {
        Target t = new Target("gguf", env, work) {
            @Override
            void parse(Seed s) {
                try (Model m = Model.open(s.file(), null)) {
                    runModel(env, m.config(), m.weights());
                    if (m.tokenizer() != null) useTokenizer(m.tokenizer());
                }
            }
        };
        for (String m : new String[]{"tiny-llama.q8_0", "tiny-qwen2.q8_0", "tiny-llama.f32"}) {
            byte[] b = Fuzz.read(FIXTURES.resolve("gguf").resolve(m + ".gguf"));
            t.seeds.add(new Seed(m, b, Layouts.gguf(b), t.work.resolve(m + ".gguf")));
        }
        // the committed GGUF files all carry a gpt2 (BPE) vocabulary; this one exercises the SentencePiece path
        byte[] sp = withSentencePieceVocabulary(Fuzz.read(FIXTURES.resolve("gguf").resolve("tiny-llama.q8_0.gguf")));
        t.seeds.add(new Seed("tiny-llama-sentencepiece", sp, Layouts.gguf(sp), t.work.resolve("tiny-llama-sentencepiece.gguf")));
        return t;
    }

    /**
     * {@code gguf} with its tokenizer.ggml.* metadata replaced by a "llama" (SentencePiece) vocabulary of as many
     * tokens: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens &lt;0xXX&gt;, then "▁"-pieces with scores. The
     * other metadata, the tensor infos and the data are copied byte for byte (offsets are relative to the data).
     */
    static byte[] withSentencePieceVocabulary(byte[] gguf) {
        ByteBuffer in = ByteBuffer.wrap(gguf).order(ByteOrder.LITTLE_ENDIAN);
        long nTensors = in.getLong(8), nKv = in.getLong(16);
        ByteArrayOutputStream kvs = new ByteArrayOutputStream();
        int pos = 24, kept = 0, vocab = -1;
        for (long i = 0; i < nKv; i++) {
            int start = pos;
            int keyLen = (int) in.getLong(pos);
            String key = new String(gguf, pos + 8, keyLen, StandardCharsets.UTF_8);
            pos += 8 + keyLen;
            int type = in.getInt(pos);
            pos = skipValue(in, type, pos + 4);
            if (key.equals("llama.vocab_size")) vocab = in.getInt(pos - 4);
            if (!key.startsWith("tokenizer.ggml.")) {
                kvs.write(gguf, start, pos - start);
                kept++;
            }
        }
        int infosStart = pos;
        for (long i = 0; i < nTensors; i++) {
            pos += 8 + (int) in.getLong(pos);
            int nd = in.getInt(pos);
            pos += 4 + 8 * nd + 4 + 8;
        }
        int infosEnd = pos, dataStart = (pos + 31) / 32 * 32; // the fixture uses the default alignment
        String[] pieces = {"\u2581", "\u2581t", "he", "\u2581the", "\u2581a", "in", "er", "\u2581w", "on", "re", "\u2581th", "\u2581s",
                "at", "en", "\u2581c", "it", "is", "or", "\u2581o", "es", "\u2581h", "an", "\u2581b", "ing"};
        String[] tokens = new String[vocab];
        float[] scores = new float[vocab];
        int[] types = new int[vocab];
        tokens[0] = "<unk>";
        types[0] = 2;
        tokens[1] = "<s>";
        tokens[2] = "</s>";
        types[1] = types[2] = 3;
        for (int i = 0; i < 256; i++) {
            tokens[3 + i] = String.format("<0x%02X>", i);
            types[3 + i] = 6;
        }
        for (int i = 259; i < vocab; i++) {
            tokens[i] = pieces[(i - 259) % pieces.length] + (i - 259 >= pieces.length ? "" + (i - 259) : "");
            types[i] = 1;
            scores[i] = -(i - 259);
        }
        GgufOut out = new GgufOut();
        out.string("tokenizer.ggml.model").u32(8).string("llama");
        out.string("tokenizer.ggml.tokens").u32(9).u32(8).u64(vocab);
        for (String tok : tokens) out.string(tok);
        out.string("tokenizer.ggml.scores").u32(9).u32(6).u64(vocab);
        for (float f : scores) out.f32(f);
        out.string("tokenizer.ggml.token_type").u32(9).u32(5).u64(vocab);
        for (int ty : types) out.u32(ty);
        out.string("tokenizer.ggml.bos_token_id").u32(4).u32(1);
        out.string("tokenizer.ggml.eos_token_id").u32(4).u32(2);
        out.string("tokenizer.ggml.unknown_token_id").u32(4).u32(0);
        GgufOut file = new GgufOut();
        file.u32(0x46554747).u32(3).u64(nTensors).u64(kept + 7L);
        file.b.writeBytes(kvs.toByteArray());
        file.b.writeBytes(out.b.toByteArray());
        file.b.write(gguf, infosStart, infosEnd - infosStart);
        while (file.b.size() % 32 != 0) file.b.write(0);
        file.b.write(gguf, dataStart, gguf.length - dataStart);
        return file.b.toByteArray();
    }

    private static int skipValue(ByteBuffer in, int type, int pos) {
        return switch (type) {
            case 0, 1, 7 -> pos + 1;
            case 2, 3 -> pos + 2;
            case 4, 5, 6 -> pos + 4;
            case 10, 11, 12 -> pos + 8;
            case 8 -> pos + 8 + (int) in.getLong(pos);
            case 9 -> {
                int et = in.getInt(pos);
                long n = in.getLong(pos + 4);
                pos += 12;
                for (long i = 0; i < n; i++) pos = skipValue(in, et, pos);
                yield pos;
            }
            default -> throw new IllegalArgumentException("GGUF value type " + type);
        };
    }

    /** Little-endian GGUF pieces. */
    private static final class GgufOut {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();

        GgufOut u32(int v) {
            b.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
            return this;
        }

        GgufOut u64(long v) {
            b.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
            return this;
        }

        GgufOut f32(float v) {
            return u32(Float.floatToRawIntBits(v));
        }

        GgufOut string(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            u64(u.length);
            b.writeBytes(u);
            return this;
        }
    }

    static Target adapterPt(Env env, Path work) {
        Target t = new Target("adapter-pt", env, work) {
            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                int op = rnd.nextInt(10);
                if (op < 4) return super.mutate(s, rnd);
                return op < 8 ? pickleMutant(s.bytes(), rnd) : storageMutant(s.bytes(), rnd);
            }

            @Override
            void parse(Seed s) {
                SacAdapter.load(s.file(), env.config());
            }
        };
        for (String m : new String[]{"tiny", "tiny_state_dict", "tiny_f16_views"}) {
            byte[] b = Fuzz.read(FIXTURES.resolve("adapter").resolve(m + ".pt"));
            t.seeds.add(new Seed(m, b, Layouts.zip(b), t.work.resolve(m + ".pt")));
        }
        return t;
    }

    static Target adapterSafetensors(Env env, Path work) {
        Target t = new Target("adapter-safetensors", env, work) {
            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                return rnd.nextBoolean() ? super.mutate(s, rnd) : safetensorsHeader(s.bytes(), rnd);
            }

            @Override
            void parse(Seed s) {
                SacAdapter.load(s.file(), env.config());
            }
        };
        byte[] b = Fuzz.read(FIXTURES.resolve("adapter").resolve("tiny.safetensors"));
        t.seeds.add(new Seed("tiny", b, Layouts.safetensors(b), t.work.resolve("tiny.safetensors")));
        return t;
    }

    static Target sacFile(Env env, Path work) {
        Target t = new Target("sac", env, work) {
            @Override
            Mutant mutate(Seed s, SplittableRandom rnd) {
                Mutant m = super.mutate(s, rnd);
                // most mutations get a valid checksum again, so the checks after it are reached
                return rnd.nextInt(4) == 0 ? m : new Mutant(reseal(m.bytes()), m.what() + ", checksum recomputed");
            }

            @Override
            void parse(Seed s) {
                // as `sac ask` does: the model in use and its adapter (none here) must be the ones the file names
                CompressedContext ctx = SacFile.load(s.file(), env.backend, env.config(), env.sac.modelFingerprint(),
                        env.sac.adapterFingerprint());
                env.sac.answer(ctx, new int[]{5, 6, 7}, AnswerOptions.DEFAULT.withMaxNewTokens(2));
            }
        };
        String text = "Echoes of vectors unfold, a gentle hum of precision, as I sense the nodes.";
        Path tf = t.work.resolve("seed-tf.sac"), plain = t.work.resolve("seed-plain.sac");
        SacFile.save(tf, env.sac.compress(text, 5), env.config());
        SacFile.save(plain, env.sac.truncated(text, 3, Sac.Keep.LAST), env.config());
        for (Path p : new Path[]{tf, plain}) {
            byte[] b = Fuzz.read(p);
            String name = p.getFileName().toString().replace("seed-", "").replace(".sac", "");
            t.seeds.add(new Seed(name, b, Layouts.sac(b), t.work.resolve(name + ".sac")));
        }
        return t;
    }

    /** Regexes that backtrack exponentially or polynomially, or recurse once per character, on {@link #SAMPLE}. */
    static final String[] HOSTILE_REGEXES = {"(.*a){12}", "(?:.|\\n)+", "(a|aa)+$", "(\\s*)*$", "(?:\\p{L}|\\p{L}\\p{L})*!",
            "((a+)+)+b", "(.*){1,32000}[bc]"};

    /** The tokenizer's pre-tokenizer replaced by a Split on a hostile regex (then ByteLevel without its own regex). */
    static Mutant hostileRegex(byte[] seed, SplittableRandom rnd) {
        JsonMutator.JObj root = (JsonMutator.JObj) JsonMutator.tree(new String(seed, StandardCharsets.UTF_8));
        String re = HOSTILE_REGEXES[rnd.nextInt(HOSTILE_REGEXES.length)];
        String quoted = "\"" + re.replace("\\", "\\\\") + "\"";
        JsonMutator.Raw pre = new JsonMutator.Raw("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
                + quoted + "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                + "\"trim_offsets\":true,\"use_regex\":false}]}");
        for (Object[] e : root.entries()) if (e[0].equals("pre_tokenizer")) e[1] = pre;
        return new Mutant(JsonMutator.serialize(root), "pre-tokenizer regex " + re);
    }

    // ---- using what loaded --------------------------------------------------------------------------------------

    static void loadHfDirectory(Env env, Path dir) {
        try (Arena a = Arena.ofConfined()) {
            LoadedWeights w = SafetensorsLoader.load(dir, a);
            runModel(env, w.config(), w.weights());
        }
    }

    /** Fingerprints the weights and runs two tokens through them: a file that loads must also run. */
    static void runModel(Env env, ModelConfig c, LlamaWeights w) {
        Fingerprint.of(c, w);
        Llama llama = new Llama(c, w, env.backend);
        KvCache cache = llama.newCache(2);
        float[] logits = llama.forward(new int[]{Math.min(1, c.vocabSize() - 1), c.vocabSize() - 1}, new int[]{0, 1},
                cache, Mask.causal(), Logits.LAST);
        if (logits.length != c.vocabSize()) throw new AssertionError(logits.length + " logits for vocab " + c.vocabSize());
    }

    static void useTokenizer(Tokenizer tok) {
        int[] ids = tok.encode(SAMPLE);
        for (int id : ids)
            if (id < 0 || id >= tok.vocabSize()) throw new AssertionError("encode gave id " + id + " of " + tok.vocabSize());
        tok.decode(ids);
    }

    // ---- format helpers -----------------------------------------------------------------------------------------

    /** Recomputes a .sac file's trailing SHA-256 over everything before it. */
    static byte[] reseal(byte[] b) {
        if (b.length < 40) return b;
        try {
            byte[] out = b.clone();
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(out, 0, out.length - 32);
            System.arraycopy(md.digest(), 0, out, out.length - 32, 32);
            return out;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The entries of a zip, in order, with their methods. */
    static LinkedHashMap<String, Object[]> entries(byte[] zip) {
        try {
            Path tmp = Files.createTempFile("fuzz", ".zip");
            try {
                Files.write(tmp, zip);
                LinkedHashMap<String, Object[]> out = new LinkedHashMap<>();
                try (ZipFile z = new ZipFile(tmp.toFile())) {
                    for (ZipEntry e : java.util.Collections.list(z.entries())) {
                        try (InputStream in = z.getInputStream(e)) {
                            out.put(e.getName(), new Object[]{in.readAllBytes(), e.getMethod()});
                        }
                    }
                }
                return out;
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A zip of these entries (stored entries get their size and CRC up front, as torch writes them). */
    static byte[] zip(Map<String, Object[]> entries) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ZipOutputStream z = new ZipOutputStream(bytes)) {
                for (Map.Entry<String, Object[]> e : entries.entrySet()) {
                    byte[] data = (byte[]) e.getValue()[0];
                    ZipEntry ze = new ZipEntry(e.getKey());
                    int method = (Integer) e.getValue()[1];
                    ze.setMethod(method);
                    if (method == ZipEntry.STORED) {
                        CRC32 crc = new CRC32();
                        crc.update(data);
                        ze.setSize(data.length);
                        ze.setCompressedSize(data.length);
                        ze.setCrc(crc.getValue());
                    }
                    z.putNextEntry(ze);
                    z.write(data);
                    z.closeEntry();
                }
            }
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String pklName(Map<String, Object[]> entries) {
        for (String k : entries.keySet()) if (k.endsWith("/data.pkl")) return k;
        throw new IllegalStateException("seed has no data.pkl");
    }

    /** data.pkl mutated (bytes, operands, or a global swapped for a forbidden one), the zip rebuilt around it. */
    static Mutant pickleMutant(byte[] seedZip, SplittableRandom rnd) {
        LinkedHashMap<String, Object[]> e = entries(seedZip);
        String key = pklName(e);
        byte[] pkl = (byte[]) e.get(key)[0];
        Mutant m;
        if (rnd.nextInt(6) == 0) {
            String[][] swaps = {{"collections\nOrderedDict", "os\nsystem\n\0\0\0\0\0"}, {"_rebuild_tensor_v2", "_rebuild_parameter"},
                    {"BFloat16Storage", "ByteStorage\0\0\0\0"}, {"OrderedDict", "defaultdict"}};
            String[] sw = swaps[rnd.nextInt(swaps.length)];
            String s = new String(pkl, StandardCharsets.ISO_8859_1);
            m = new Mutant(s.replace(sw[0], sw[1].substring(0, Math.min(sw[1].length(), sw[0].length())))
                    .getBytes(StandardCharsets.ISO_8859_1), "pickle: " + sw[0].replace('\n', '.') + " -> " + sw[1].replace('\n', '.').replace("\0", ""));
        } else {
            Mutant r = Mutator.random(pkl, Layouts.pickle(pkl), rnd);
            m = new Mutant(r.bytes(), "pickle: " + r.what());
        }
        e.put(key, new Object[]{m.bytes(), e.get(key)[1]});
        return new Mutant(zip(e), m.what());
    }

    /** A storage made NaN/Inf, shorter or longer, or deflated (a small zip bomb), the zip rebuilt. */
    static Mutant storageMutant(byte[] seedZip, SplittableRandom rnd) {
        LinkedHashMap<String, Object[]> e = entries(seedZip);
        List<String> storages = new ArrayList<>();
        for (String k : e.keySet()) if (k.contains("/data/")) storages.add(k);
        String key = storages.get(rnd.nextInt(storages.size()));
        byte[] data = (byte[]) e.get(key)[0];
        int method = (Integer) e.get(key)[1];
        String what;
        switch (rnd.nextInt(4)) {
            case 0 -> {
                // bf16 / f16 / f32 NaN and infinity patterns; which one lands depends on the storage's dtype
                short[] bits = {(short) 0x7fc0, (short) 0x7f80, (short) 0xff80, (short) 0x7e00, (short) 0x7c00};
                ByteBuffer bb = ByteBuffer.wrap(data = data.clone()).order(ByteOrder.LITTLE_ENDIAN);
                short v = bits[rnd.nextInt(bits.length)];
                for (int i = 0; i < 1 + rnd.nextInt(4); i++) bb.putShort(2 * rnd.nextInt(data.length / 2), v);
                what = "storage " + key + " gets 0x" + Integer.toHexString(v & 0xffff) + " values";
            }
            case 1 -> {
                int n = rnd.nextInt(data.length);
                data = Arrays.copyOf(data, n);
                what = "storage " + key + " cut to " + n + " bytes";
            }
            case 2 -> {
                int n = data.length + 1 + rnd.nextInt(4096);
                data = Arrays.copyOf(data, n);
                what = "storage " + key + " grown to " + n + " bytes";
            }
            default -> {
                data = Arrays.copyOf(data, data.length + (1 << 20));
                method = ZipEntry.DEFLATED;
                what = "storage " + key + " padded with 1 MiB of zeros and deflated";
            }
        }
        e.put(key, new Object[]{data, method});
        return new Mutant(zip(e), what);
    }

    /** A copy of an HF model directory with its weights split over two shards and an index. */
    static Path shard(Path from, Path to) {
        copyDir(from, to);
        try {
            Path single = to.resolve("model.safetensors");
            byte[] b = Files.readAllBytes(single);
            Files.delete(single);
            int n = (int) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            Map<String, Object> header = Json.parseObject(new String(b, 8, n, StandardCharsets.UTF_8), "seed");
            List<String> names = new ArrayList<>(header.keySet());
            names.remove("__metadata__");
            Map<String, String> weightMap = new LinkedHashMap<>();
            for (int part = 0; part < 2; part++) {
                String file = "model-0000" + (part + 1) + "-of-00002.safetensors";
                StringBuilder h = new StringBuilder("{");
                ByteArrayOutputStream data = new ByteArrayOutputStream();
                for (int i = part; i < names.size(); i += 2) {
                    Map<?, ?> t = (Map<?, ?>) header.get(names.get(i));
                    List<?> off = (List<?>) t.get("data_offsets");
                    int from0 = ((Long) off.get(0)).intValue(), to0 = ((Long) off.get(1)).intValue();
                    if (h.length() > 1) h.append(',');
                    h.append('"').append(names.get(i)).append("\":{\"dtype\":\"").append(t.get("dtype")).append("\",\"shape\":")
                            .append(t.get("shape").toString().replace(" ", "")).append(",\"data_offsets\":[").append(data.size())
                            .append(',').append(data.size() + to0 - from0).append("]}");
                    data.write(b, 8 + n + from0, to0 - from0);
                    weightMap.put(names.get(i), file);
                }
                byte[] hb = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
                ByteBuffer out = ByteBuffer.allocate(8 + hb.length + data.size()).order(ByteOrder.LITTLE_ENDIAN);
                out.putLong(hb.length).put(hb).put(data.toByteArray());
                Files.write(to.resolve(file), out.array());
            }
            StringBuilder idx = new StringBuilder("{\"metadata\":{\"total_size\":" + (b.length - 8 - n) + "},\"weight_map\":{");
            int i = 0;
            for (Map.Entry<String, String> e : weightMap.entrySet())
                idx.append(i++ > 0 ? "," : "").append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
            Files.writeString(to.resolve("model.safetensors.index.json"), idx.append("}}").toString());
            return to;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path copyDir(Path from, Path to) {
        try {
            Files.createDirectories(to);
            try (var s = Files.list(from)) {
                for (Path f : s.toList())
                    if (Files.isRegularFile(f)) Files.copy(f, to.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return to;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path mkdirs(Path p) {
        try {
            return Files.createDirectories(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
