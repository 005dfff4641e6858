package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.load.DType;
import io.sac4j.load.GgufWriter;
import io.sac4j.load.JsonOut;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.SafetensorsFileWriter;
import io.sac4j.load.SyntheticModel;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code sac synth}: a Llama-shaped model with random weights, written as a Hugging Face directory (config.json,
 * model.safetensors, tokenizer.json) or as one GGUF v3 file that llama.cpp loads. For benchmarks and format tests,
 * where shape and weight type matter but the values do not.
 *
 * <p>The weights are exactly those of {@link SyntheticModel#create} with the same config, type and seed (each
 * tensor is drawn from the seed and its name), generated and written one tensor at a time, so the 1B shape never
 * needs the whole model in memory. Both formats hold the same model: GGUF's q/k rows are permuted as llama.cpp's
 * converter does, and the forward pass gives the same logits from either file.
 *
 * <p>The tokenizer is a minimal byte-level BPE (GPT-2 pre-tokenizer): the 256 byte tokens, a few English merges,
 * then &lt;|begin_of_text|&gt; and &lt;|end_of_text|&gt;; the remaining ids up to the vocabulary size are "[PADn]"
 * tokens (of type unused in GGUF, as llama.cpp's converter writes them), so every id the model produces decodes.
 */
final class SynthCommand implements Command {
    static final String BOS = "<|begin_of_text|>", EOS = "<|end_of_text|>";
    /** Merges "a b" in rank order: a space before each lowercase letter, then some common English pairs. */
    static final List<String> MERGES;

    static {
        List<String> m = new ArrayList<>();
        for (char c = 'a'; c <= 'z'; c++) m.add("Ġ " + c);
        m.addAll(List.of("t h", "h e", "i n", "e r", "a n", "Ġt h", "Ġth e"));
        MERGES = List.copyOf(m);
    }

    /**
     * The shapes on offer: name -> config. BOS and EOS follow the byte and merge tokens (ids 289 and 290), so the
     * tokenizer's ids are dense; the rest of the vocabulary is never produced by the tokenizer.
     */
    static final Map<String, ModelConfig> SHAPES = new LinkedHashMap<>();

    static {
        SHAPES.put("tiny", shape(64, 192, 2, 4, 2, 16, 512));
        SHAPES.put("small", shape(512, 1536, 4, 8, 2, 64, 8192));
        ModelConfig b = SyntheticModel.llama32_1B();
        SHAPES.put("llama-3.2-1b", shape(b.dim(), b.hiddenDim(), b.nLayers(), b.nHeads(), b.nKvHeads(), b.headDim(), b.vocabSize()));
    }

    private static ModelConfig shape(int dim, int hidden, int layers, int heads, int kvHeads, int headDim, int vocab) {
        ModelConfig c = SyntheticModel.config(dim, hidden, layers, heads, kvHeads, headDim, vocab);
        int bos = 256 + MERGES.size();
        return new ModelConfig(c.arch(), dim, hidden, layers, heads, kvHeads, headDim, vocab, c.maxSeqLen(), c.normEps(),
                c.ropeTheta(), c.ropeStyle(), null, false, true, bos, new int[]{bos + 1});
    }

    @Override
    public String name() {
        return "synth";
    }

    @Override
    public String description() {
        return "write a random-weight Llama-shaped model (safetensors directory or GGUF file) for benchmarks";
    }

    @Override
    public Options options() {
        Options o = new Options();
        o.addOption(Option.builder().longOpt("shape").hasArg().argName(String.join("|", SHAPES.keySet()))
                .desc("model shape (default tiny; llama-3.2-1b is dim 2048, 16 layers, vocab 128256)").build());
        o.addOption(Option.builder().longOpt("dtype").hasArg().argName("f32|f16|bf16|q8_0")
                .desc("weight type of the matrices; norms stay f32 (default f32; q8_0 only in GGUF)").build());
        o.addOption(Option.builder("o").longOpt("output").hasArg().argName("DIR|FILE.gguf")
                .desc("where to write (required): a directory for safetensors, a file for GGUF (in an existing "
                        + "directory: DIR/<shape>.<dtype>.gguf)").build());
        o.addOption(Option.builder().longOpt("format").hasArg().argName("safetensors|gguf")
                .desc("file format (default: gguf when -o ends in .gguf or --dtype is q8_0, else safetensors)").build());
        o.addOption(Option.builder().longOpt("seed").hasArg().argName("S").desc("random seed (default 0)").build());
        Common.addJson(o, "the files written (paths, bytes), shape and weight type");
        return o;
    }

    @Override
    public int run(CommandLine line) throws ParseException {
        if (!line.hasOption("output")) throw new ParseException("-o DIR or -o FILE.gguf is required");
        String shapeName = line.getOptionValue("shape", "tiny");
        ModelConfig config = SHAPES.get(shapeName);
        if (config == null)
            throw new ParseException("--shape must be one of " + String.join(", ", SHAPES.keySet()) + ", got '" + shapeName + "'");
        String dt = line.getOptionValue("dtype", "f32").toLowerCase(Locale.ROOT);
        DType type = switch (dt) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            case "q8_0" -> DType.Q8_0;
            default -> throw new ParseException("--dtype must be f32, f16, bf16 or q8_0, got '" + dt + "'");
        };
        Path out = Path.of(line.getOptionValue("output"));
        boolean ggufName = out.getFileName() != null && out.getFileName().toString().endsWith(".gguf");
        String format = line.getOptionValue("format", ggufName || type == DType.Q8_0 ? "gguf" : "safetensors");
        if (!format.equals("gguf") && !format.equals("safetensors"))
            throw new ParseException("--format must be safetensors or gguf, got '" + format + "'");
        if (format.equals("safetensors") && type == DType.Q8_0)
            throw new ParseException("--dtype q8_0 needs --format gguf (safetensors has no Q8_0 type)");
        long seed = Common.longOption(line, "seed", 0);
        boolean quiet = line.hasOption("quiet"), json = line.hasOption("json");

        Progress bar = new Progress("MiB", !quiet);
        long t0 = System.nanoTime();
        Path written = format.equals("gguf")
                ? writeGguf(gguf(out, shapeName, dt), config, type, seed, shapeName, bar)
                : writeHf(out, config, type, seed, bar);
        bar.finish();
        double secs = (System.nanoTime() - t0) * 1e-9;
        // only the files this run wrote: a reused directory may hold others
        List<Path> files = format.equals("gguf") ? List.of(written)
                : List.of(written.resolve("config.json"), written.resolve("model.safetensors"), written.resolve("tokenizer.json"));
        long bytes = 0;
        List<Object> fileList = new ArrayList<>();
        for (Path f : files) {
            long n = size(f);
            bytes += n;
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("path", f.toString());
            e.put("bytes", n);
            fileList.add(e);
        }
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("output", written.toString());
            doc.put("format", format);
            doc.put("shape", shapeName);
            doc.put("dtype", dt);
            doc.put("seed", seed);
            doc.put("parameters", parameters(config));
            doc.put("bytes", bytes);
            doc.put("files", fileList);
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("dim", config.dim());
            c.put("hidden_dim", config.hiddenDim());
            c.put("layers", config.nLayers());
            c.put("heads", config.nHeads());
            c.put("kv_heads", config.nKvHeads());
            c.put("head_dim", config.headDim());
            c.put("vocab_size", config.vocabSize());
            c.put("max_seq_len", config.maxSeqLen());
            c.put("bos_id", config.bosId());
            c.put("eos_id", config.eosIds()[0]);
            doc.put("config", c);
            doc.put("seconds", secs);
            Common.printJson(doc);
        } else {
            System.out.printf(Locale.ROOT, "%s: %s-shaped random weights (%s, seed %d), %.2f M parameters, %s, %.1f s%n",
                    written, shapeName, dt, seed, parameters(config) / 1e6, CompressCommand.human(bytes), secs);
        }
        return Main.OK;
    }

    /** The GGUF file for -o: the path itself, or DIR/shape.dtype.gguf when it is an existing directory. */
    private static Path gguf(Path out, String shape, String dt) {
        if (Files.isDirectory(out)) return out.resolve(shape + "." + dt + ".gguf");
        Path parent = out.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) throw new SacException(out, "the directory does not exist");
        return out;
    }

    // ------------------------------------------------------------------ tensors

    /** One tensor: its SyntheticModel name (the seed), file names, shape, and the heads its rows are permuted by. */
    record Spec(String synthName, String hfName, String ggufName, int rows, int cols, boolean gain, int ropeHeads) {
        long[] shape() {
            return gain ? new long[]{cols} : new long[]{rows, cols};
        }

        /** This tensor as SyntheticModel makes it (norm gains: f32, 1 + 0.1 noise; matrices: N(0, 0.02^2)). */
        MemorySegment make(Arena arena, DType type, long seed) {
            return gain ? SyntheticModel.tensor(arena, synthName, DType.F32, 1, cols, seed, 1f, 0.1f).data()
                    : SyntheticModel.matrix(arena, synthName, type, rows, cols, seed).data();
        }
    }

    /** Every tensor of a tied Llama model in the order HF and llama.cpp write them. */
    static List<Spec> specs(ModelConfig c) {
        List<Spec> s = new ArrayList<>();
        s.add(new Spec("token_embd", "model.embed_tokens.weight", "token_embd.weight", c.vocabSize(), c.dim(), false, 0));
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "blk." + l + ".", h = "model.layers." + l + ".";
            s.add(new Spec(p + "attn_norm", h + "input_layernorm.weight", p + "attn_norm.weight", 1, c.dim(), true, 0));
            s.add(new Spec(p + "attn_q", h + "self_attn.q_proj.weight", p + "attn_q.weight", c.qDim(), c.dim(), false, c.nHeads()));
            s.add(new Spec(p + "attn_k", h + "self_attn.k_proj.weight", p + "attn_k.weight", c.kvDim(), c.dim(), false, c.nKvHeads()));
            s.add(new Spec(p + "attn_v", h + "self_attn.v_proj.weight", p + "attn_v.weight", c.kvDim(), c.dim(), false, 0));
            s.add(new Spec(p + "attn_output", h + "self_attn.o_proj.weight", p + "attn_output.weight", c.dim(), c.qDim(), false, 0));
            s.add(new Spec(p + "ffn_norm", h + "post_attention_layernorm.weight", p + "ffn_norm.weight", 1, c.dim(), true, 0));
            s.add(new Spec(p + "ffn_gate", h + "mlp.gate_proj.weight", p + "ffn_gate.weight", c.hiddenDim(), c.dim(), false, 0));
            s.add(new Spec(p + "ffn_up", h + "mlp.up_proj.weight", p + "ffn_up.weight", c.hiddenDim(), c.dim(), false, 0));
            s.add(new Spec(p + "ffn_down", h + "mlp.down_proj.weight", p + "ffn_down.weight", c.dim(), c.hiddenDim(), false, 0));
        }
        s.add(new Spec("output_norm", "model.norm.weight", "output_norm.weight", 1, c.dim(), true, 0));
        return s;
    }

    static long parameters(ModelConfig c) {
        long n = 0;
        for (Spec s : specs(c)) n += (long) s.rows() * s.cols();
        return n;
    }

    /** Wraps a tensor maker so the progress bar moves as tensors are made (in MiB of the total). */
    private static Function<Arena, MemorySegment> counted(Function<Arena, MemorySegment> make, long[] done, long total,
                                                          Progress bar) {
        return arena -> {
            MemorySegment m = make.apply(arena);
            done[0] += m.byteSize();
            bar.update(done[0] >> 20, total >> 20);
            return m;
        };
    }

    private static long bytes(Spec s, DType type) {
        return (s.gain() ? DType.F32 : type).bytes((long) s.rows() * s.cols());
    }

    // ------------------------------------------------------------------ Hugging Face directory

    private static Path writeHf(Path dir, ModelConfig c, DType type, long seed, Progress bar) {
        if (Files.exists(dir) && !Files.isDirectory(dir))
            throw new SacException(dir, "exists and is not a directory (safetensors output is a model directory)");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new SacException(dir.toString(), "cannot create the directory: " + e.getMessage(), e);
        }
        List<Spec> specs = specs(c);
        long total = 0;
        for (Spec s : specs) total += bytes(s, type);
        long[] done = {0};
        List<SafetensorsFileWriter.Entry> entries = new ArrayList<>();
        for (Spec s : specs) {
            DType t = s.gain() ? DType.F32 : type;
            entries.add(new SafetensorsFileWriter.Entry(s.hfName(), t, s.shape(),
                    counted(arena -> s.make(arena, type, seed), done, total, bar)));
        }
        // weights and tokenizer first: config.json is what makes the directory a model, so it comes last
        SafetensorsFileWriter.write(dir.resolve("model.safetensors"), entries, Map.of("format", "pt"));
        Common.writeText(dir.resolve("tokenizer.json"), tokenizerJson(c));
        Common.writeText(dir.resolve("config.json"), configJson(c, type));
        return dir;
    }

    static String configJson(ModelConfig c, DType type) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("architectures", List.of("LlamaForCausalLM"));
        m.put("model_type", "llama");
        m.put("vocab_size", c.vocabSize());
        m.put("hidden_size", c.dim());
        m.put("intermediate_size", c.hiddenDim());
        m.put("num_hidden_layers", c.nLayers());
        m.put("num_attention_heads", c.nHeads());
        m.put("num_key_value_heads", c.nKvHeads());
        m.put("head_dim", c.headDim());
        m.put("hidden_act", "silu");
        m.put("max_position_embeddings", c.maxSeqLen());
        // the decimal text of the float, so that float(text) is exactly the config's value again
        m.put("rms_norm_eps", Double.parseDouble(Float.toString(c.normEps())));
        m.put("rope_theta", Double.parseDouble(Float.toString(c.ropeTheta())));
        m.put("tie_word_embeddings", true);
        m.put("bos_token_id", c.bosId());
        m.put("eos_token_id", c.eosIds()[0]);
        m.put("attention_bias", false);
        m.put("mlp_bias", false);
        m.put("torch_dtype", switch (type) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        });
        return JsonOut.write(m) + "\n";
    }

    static String tokenizerJson(ModelConfig c) {
        Map<String, Object> vocab = new LinkedHashMap<>();
        List<String> tokens = baseTokens();
        for (int i = 0; i < tokens.size(); i++) vocab.put(tokens.get(i), i);
        // the ids after BOS/EOS, as in the GGUF vocabulary: any id the model produces decodes to something
        for (int i = c.eosIds()[0] + 1; i < c.vocabSize(); i++) vocab.put(pad(i), i);
        List<Object> added = new ArrayList<>();
        added.add(added(c.bosId(), BOS));
        added.add(added(c.eosIds()[0], EOS));
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", true);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        model.put("vocab", vocab);
        model.put("merges", MERGES);
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("version", "1.0");
        t.put("truncation", null);
        t.put("padding", null);
        t.put("added_tokens", added);
        t.put("normalizer", null);
        t.put("pre_tokenizer", byteLevel);
        t.put("post_processor", null);
        t.put("decoder", byteLevel);
        t.put("model", model);
        return JsonOut.write(t) + "\n";
    }

    private static Map<String, Object> added(int id, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("content", content);
        m.put("single_word", false);
        m.put("lstrip", false);
        m.put("rstrip", false);
        m.put("normalized", false);
        m.put("special", true);
        return m;
    }

    /** The text of an id the tokenizer never produces, as llama.cpp's converter names them. */
    private static String pad(int id) {
        return "[PAD" + id + "]";
    }

    /** The 256 byte tokens (GPT-2's byte-to-character map, in byte order), then one token per merge. */
    static List<String> baseTokens() {
        List<String> t = new ArrayList<>();
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            boolean direct = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
            t.add(String.valueOf((char) (direct ? b : 256 + shifted++)));
        }
        for (String m : MERGES) t.add(m.replace(" ", ""));
        return t;
    }

    // ------------------------------------------------------------------ GGUF

    private static Path writeGguf(Path file, ModelConfig c, DType type, long seed, String shapeName, Progress bar) {
        GgufWriter w = ggufMetadata(c, type, shapeName);
        List<Spec> specs = specs(c);
        long total = 0;
        for (Spec s : specs) total += bytes(s, type);
        long[] done = {0};
        for (Spec s : specs) {
            DType t = s.gain() ? DType.F32 : type;
            Function<Arena, MemorySegment> make = arena -> s.make(arena, type, seed);
            if (s.ropeHeads() > 0) {
                long rowBytes = t.bytes(s.cols());
                Function<Arena, MemorySegment> plain = make;
                make = arena -> GgufWriter.ropePermute(plain.apply(arena), rowBytes, s.rows(), s.ropeHeads(), arena);
            }
            w.addTensor(s.ggufName(), t, s.shape(), counted(make, done, total, bar));
        }
        w.write(file);
        return file;
    }

    /** The metadata llama.cpp needs for a llama model: hyper-parameters, file type, and the tokenizer. */
    static GgufWriter ggufMetadata(ModelConfig c, DType type, String shapeName) {
        GgufWriter w = new GgufWriter();
        String p = "llama.";
        w.putString("general.architecture", "llama");
        w.putString("general.type", "model");
        w.putString("general.name", "sac4j synthetic " + shapeName);
        w.putU32("general.file_type", switch (type) { // llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 7;
            case BF16 -> 32;
        });
        w.putU32("general.quantization_version", 2);
        w.putU32(p + "vocab_size", c.vocabSize());
        w.putU32(p + "context_length", c.maxSeqLen());
        w.putU32(p + "embedding_length", c.dim());
        w.putU32(p + "feed_forward_length", c.hiddenDim());
        w.putU32(p + "block_count", c.nLayers());
        w.putU32(p + "attention.head_count", c.nHeads());
        w.putU32(p + "attention.head_count_kv", c.nKvHeads());
        w.putU32(p + "attention.key_length", c.headDim());
        w.putU32(p + "attention.value_length", c.headDim());
        w.putU32(p + "rope.dimension_count", c.headDim());
        w.putF32(p + "rope.freq_base", c.ropeTheta());
        w.putF32(p + "attention.layer_norm_rms_epsilon", c.normEps());

        List<String> base = baseTokens();
        String[] tokens = new String[c.vocabSize()];
        int[] types = new int[c.vocabSize()];
        for (int i = 0; i < tokens.length; i++) {
            boolean real = i < base.size();
            tokens[i] = real ? base.get(i) : pad(i);
            types[i] = real ? 1 : 5; // normal, unused
        }
        tokens[c.bosId()] = BOS;
        tokens[c.eosIds()[0]] = EOS;
        types[c.bosId()] = types[c.eosIds()[0]] = 3; // control
        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", "gpt-2");
        w.putStrings("tokenizer.ggml.tokens", tokens);
        w.putI32s("tokenizer.ggml.token_type", types);
        w.putStrings("tokenizer.ggml.merges", MERGES.toArray(String[]::new));
        w.putU32("tokenizer.ggml.bos_token_id", c.bosId());
        w.putU32("tokenizer.ggml.eos_token_id", c.eosIds()[0]);
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);
        return w;
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new SacException(p.toString(), "cannot read back the file just written: " + e.getMessage(), e);
        }
    }
}
