package io.sac4j.bench;

import io.sac4j.compress.Sac;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.DType;
import io.sac4j.load.Model;
import io.sac4j.load.SyntheticModel;

/**
 * The model a SAC benchmark runs on, with its CPU backend and a training-free {@link Sac} (no adapter; with one,
 * the encoder's q/v weights are the LoRA-merged f32 copies and anchors get role tokens added, the work is
 * otherwise the same). Two models:
 * <ul>
 * <li>{@value #BUNDLED}: aidreams260K (llama2.c, dim 64, 4 layers), the real model in the jar;</li>
 * <li>{@value #LLAMA_1B}: random BF16 weights of Llama-3.2-1B's shape ({@link SyntheticModel#llama32_1B()}, seed
 * 1, as ForwardBench), ~2.5 GB off-heap. It has no tokenizer of its own: the bundled one makes the prompt pieces
 * ("### Context:\n", the question), whose ids all fit its vocabulary; the context itself is ids.</li>
 * </ul>
 */
final class Subject implements AutoCloseable {
    static final String BUNDLED = "bundled", LLAMA_1B = "llama-3.2-1b";
    /** The question every ask benchmark answers (tokenized with the bundled tokenizer for both models). */
    static final String QUESTION = "What did the machine dream of?";

    final String name;
    final Model model;
    final CpuBackend backend;
    final Sac sac;
    /** The bundled model whose tokenizer the 1B model borrows (null for the bundled model itself). */
    private final Model tokenizerOwner;
    private final SyntheticModel synthetic;

    private Subject(String name, Model model, Model tokenizerOwner, SyntheticModel synthetic, int threads) {
        this.name = name;
        this.model = model;
        this.tokenizerOwner = tokenizerOwner;
        this.synthetic = synthetic;
        this.backend = new CpuBackend(threads);
        this.sac = Sac.open(model, null, backend);
    }

    static Subject open(String name, int threads) {
        return switch (name) {
            case BUNDLED -> new Subject(name, Model.bundled(), null, null, threads);
            case LLAMA_1B -> {
                Model tok = Model.bundled();
                SyntheticModel s = SyntheticModel.create(SyntheticModel.llama32_1B(), DType.BF16, 1);
                // no arena: the weights belong to the SyntheticModel, closed after the Model
                Model m = new Model("Llama-3.2-1B-shaped random BF16", s.config(), s.weights(), tok.tokenizer(), null);
                yield new Subject(name, m, tok, s, threads);
            }
            default -> throw new IllegalArgumentException("unknown model '" + name + "': " + BUNDLED + " or " + LLAMA_1B);
        };
    }

    /**
     * A deterministic encoder input of exactly {@code tokens} ids: the real prompt prefix ([BOS] when the model has
     * one, then "### Context:\n") followed by ordinary ids cycling over the vocabulary (ids 0..2 are left out: they
     * are the special tokens of llama2.c tokenizers).
     */
    int[] contextIds(int tokens) {
        int[] prefix = sac.contextIds("");
        if (tokens < prefix.length) throw new IllegalArgumentException("tokens must be >= " + prefix.length + ": " + tokens);
        int vocab = model.config().vocabSize();
        int[] ids = new int[tokens];
        System.arraycopy(prefix, 0, ids, 0, prefix.length);
        for (int i = prefix.length; i < tokens; i++) ids[i] = 3 + (int) ((i * 7919L) % (vocab - 3));
        return ids;
    }

    int[] questionIds() {
        return sac.questionIds(QUESTION);
    }

    @Override
    public void close() {
        sac.close();
        backend.close();
        model.close();
        if (synthetic != null) synthetic.close();
        if (tokenizerOwner != null) tokenizerOwner.close();
    }
}
