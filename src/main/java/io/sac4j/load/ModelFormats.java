package io.sac4j.load;

import io.sac4j.SacException;
import io.sac4j.tokenize.BpeTokenizer;
import io.sac4j.tokenize.GgufTokenizer;
import io.sac4j.tokenize.Llama2cTokenizer;
import io.sac4j.tokenize.Tokenizer;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Picks the loader for a model path: a directory is a Hugging Face model (config.json + safetensors), a file that
 * starts with the GGUF magic is GGUF, anything else is a llama2.c checkpoint. All mappings of one model share one
 * arena, so {@link Model#close()} unmaps everything; if loading fails half-way the arena is closed here.
 */
public final class ModelFormats {
    static final String TOKENIZER_JSON = "tokenizer.json";

    private ModelFormats() {
    }

    /**
     * Opens {@code model}. The tokenizer is {@code tokenizerOrNull} when given (tokenizer.json, a directory holding
     * one, a GGUF file's embedded vocabulary, or else a llama2.c tokenizer.bin); otherwise the model directory's
     * tokenizer.json or the GGUF file's embedded tokenizer; otherwise none (the model then works on token ids only).
     */
    public static Model open(Path model, Path tokenizerOrNull) {
        if (model == null) throw new SacException("no model path given");
        if (!Files.exists(model)) throw new SacException(model, "no such file or directory");
        if (tokenizerOrNull != null && !Files.exists(tokenizerOrNull))
            throw new SacException(tokenizerOrNull, "no such file or directory");
        Arena arena = Arena.ofShared();
        try {
            LoadedWeights w;
            Tokenizer tok = null;
            if (Files.isDirectory(model)) {
                w = SafetensorsLoader.load(model, arena);
                Path json = model.resolve(TOKENIZER_JSON);
                if (tokenizerOrNull == null && Files.isRegularFile(json)) tok = BpeTokenizer.fromJson(json);
            } else if (GgufFile.hasMagic(model)) {
                GgufFile g = GgufFile.open(model, arena);
                w = GgufLoader.load(g);
                if (tokenizerOrNull == null) tok = embedded(g);
            } else {
                w = Llama2cLoader.load(model, arena);
            }
            if (tokenizerOrNull != null) tok = explicit(tokenizerOrNull, w.config().vocabSize());
            if (tok != null && tok.vocabSize() > w.config().vocabSize())
                throw new SacException(tokenizerOrNull != null ? tokenizerOrNull.toString() : model.toString(),
                        "the tokenizer has " + tok.vocabSize() + " tokens, more than the model's vocabulary of "
                                + w.config().vocabSize());
            return new Model(model.toString(), w.config(), w.weights(), tok, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** The tokenizer stored in a GGUF file's metadata, or null when it has none. */
    static Tokenizer embedded(GgufFile g) {
        String kind = g.getString("tokenizer.ggml.model", null);
        if (kind == null || kind.equals("none")) return null;
        return GgufTokenizer.fromMetadata(g.source(), g.metadata());
    }

    private static Tokenizer explicit(Path p, int vocabSize) {
        if (Files.isDirectory(p)) {
            Path json = p.resolve(TOKENIZER_JSON);
            if (!Files.isRegularFile(json)) throw new SacException(p, "no " + TOKENIZER_JSON + " in this directory");
            return BpeTokenizer.fromJson(json);
        }
        if (p.getFileName().toString().endsWith(".json")) return BpeTokenizer.fromJson(p);
        if (GgufFile.hasMagic(p)) {
            // only the metadata is needed; the tokenizer copies what it keeps, so the mapping can go at once
            try (Arena a = Arena.ofConfined()) {
                GgufFile g = GgufFile.open(p, a);
                Tokenizer t = embedded(g);
                if (t == null) throw new SacException(p, "this GGUF file has no tokenizer");
                return t;
            }
        }
        return Llama2cTokenizer.load(p, vocabSize);
    }
}
