package io.sac4j.load;

import io.sac4j.SacException;
import io.sac4j.tokenize.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded model: its configuration, its weights (memory-mapped), and its tokenizer. Thread-safe: one model serves
 * any number of threads.
 *
 * <p>Closing while calls run is safe. Calls that read the weights ({@link io.sac4j.forward.Llama} forward passes of
 * a Llama made from this model, and every {@code io.sac4j.compress.Sac} call) hold a {@link #use()} while they run.
 * {@link #close()} first refuses new uses (they fail with the one-line SacException "&lt;source&gt;: the model is
 * closed"), then waits for the uses in progress to finish, then unmaps the file; a second close does nothing. Code
 * that reads {@link #weights()} directly, outside such a call, must stop before closing: a read of an unmapped
 * tensor throws IllegalStateException (never a crash).
 */
public final class Model implements AutoCloseable {
    private final String source;
    private final ModelConfig config;
    private final LlamaWeights weights;
    private final Tokenizer tokenizer;
    private final Arena arena;
    private final Object lock = new Object();
    /** Uses in progress, all threads (guarded by lock), and this thread's, to refuse a close from inside a use. */
    private int inUse;
    private final ThreadLocal<int[]> heldHere = ThreadLocal.withInitial(() -> new int[1]);
    private boolean closing, closed;

    /** A running call on the weights; {@link #close()} ends it. */
    public interface Use extends AutoCloseable {
        @Override
        void close();
    }

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

    /**
     * Marks a call that reads the weights, until the returned {@link Use} is closed (use try-with-resources).
     *
     * @throws SacException "the model is closed" once {@link #close()} has begun
     */
    public Use use() {
        synchronized (lock) {
            if (closing) throw new SacException(source, "the model is closed");
            inUse++;
        }
        heldHere.get()[0]++;
        boolean[] done = {false};
        return () -> {
            if (done[0]) return;
            done[0] = true;
            heldHere.get()[0]--;
            synchronized (lock) {
                if (--inUse == 0) lock.notifyAll();
            }
        };
    }

    /** Whether {@link #close()} has begun: new uses are refused. */
    public boolean isClosed() {
        synchronized (lock) {
            return closing;
        }
    }

    /**
     * Refuses new uses, waits for those in progress, then unmaps the weights. Idempotent. Calling it from inside a
     * use of this model (say, from an answer's token callback) would wait for itself: that is refused instead.
     */
    @Override
    public void close() {
        if (heldHere.get()[0] > 0)
            throw new SacException(source, "close() called from inside a call that uses this model (it would wait for itself)");
        boolean interrupted = false;
        synchronized (lock) {
            closing = true;
            while (inUse > 0) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    interrupted = true; // closing must finish: unmapping under a running call is what this prevents
                }
            }
            if (!closed) {
                closed = true;
                if (arena != null) arena.close();
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    @Override
    public String toString() {
        ModelConfig c = config;
        return String.format("%s (%s: dim %d, %d layers, %d/%d heads, head dim %d, ffn %d, vocab %d, weights %s)",
                source, c.arch(), c.dim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.headDim(), c.hiddenDim(),
                c.vocabSize(), weights.layers()[0].wq().type());
    }
}
