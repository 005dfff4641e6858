package io.sac4j.load;

import io.sac4j.SacException;
import io.sac4j.tokenize.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded model: its configuration, its weights (memory-mapped), and its tokenizer. Closing it unmaps the file;
 * the weights must not be used afterwards.
 */
public final class Model implements AutoCloseable {
    private final String source;
    private final ModelConfig config;
    private final LlamaWeights weights;
    private final Tokenizer tokenizer;
    private final Arena arena;

    public Model(String source, ModelConfig config, LlamaWeights weights, Tokenizer tokenizer, Arena arena) {
        this.source = source;
        this.config = config;
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.arena = arena;
    }

    public String source() { return source; }
    public ModelConfig config() { return config; }
    public LlamaWeights weights() { return weights; }
    public Tokenizer tokenizer() { return tokenizer; }

    /** Opens a model, picking the format from the path: a directory (Hugging Face), *.gguf, or a llama2.c *.bin. */
    public static Model open(Path model, Path tokenizer) {
        return ModelFormats.open(model, tokenizer);
    }

    /** The bundled default: aidreams260K (llama2.c) with its tok512 tokenizer, copied from the jar's resources. */
    public static Model bundled() {
        try {
            Path dir = Files.createTempDirectory("sac4j-model");
            Path bin = copyResource("aidreams260K.bin", dir);
            Path tok = copyResource("tok512.bin", dir);
            Model opened = open(bin, tok);
            Model m = new Model("aidreams260K (bundled)", opened.config, opened.weights, opened.tokenizer, opened.arena);
            // the files are mapped; deleting them now frees the disk when the mapping ends
            Files.deleteIfExists(bin);
            Files.deleteIfExists(tok);
            Files.deleteIfExists(dir);
            return m;
        } catch (IOException e) {
            throw new SacException("bundled model", "cannot extract: " + e.getMessage());
        }
    }

    private static Path copyResource(String name, Path dir) throws IOException {
        try (InputStream in = Model.class.getResourceAsStream("/io/sac4j/models/" + name)) {
            if (in == null) throw new SacException("bundled model", "resource " + name + " is missing from the jar");
            Path p = dir.resolve(name);
            Files.copy(in, p);
            return p;
        }
    }

    @Override
    public void close() {
        if (arena != null) arena.close();
    }

    @Override
    public String toString() {
        ModelConfig c = config;
        return String.format("%s (%s: dim %d, %d layers, %d/%d heads, head dim %d, ffn %d, vocab %d, weights %s)",
                source, c.arch(), c.dim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.headDim(), c.hiddenDim(),
                c.vocabSize(), weights.layers()[0].wq().type());
    }
}
