package io.sac4j.forward;

import io.sac4j.load.LlamaWeights;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;

/**
 * The Llama-family forward pass (Llama 2/3, Qwen2, llama2.c), written once over a {@link Backend}.
 * One call runs a batch of rows (tokens or given embeddings) at explicit positions, appends their keys and values
 * to a {@link KvCache}, and returns logits of the rows asked for. The weights it runs are a parameter, so the SAC
 * encoder (LoRA merged into q/v) and the frozen decoder share this code.
 */
public final class Llama {
    private final ModelConfig c;
    private final LlamaWeights w;
    private final Backend backend;
    private final Rope rope;
    /** The model the weights belong to, when known: each forward pass holds a {@link Model#use()} of it. */
    private final Model model;

    public Llama(ModelConfig config, LlamaWeights weights, Backend backend) {
        this(config, weights, backend, null);
    }

    /** Runs {@code model}'s weights; its {@link Model#close()} waits for passes in progress and refuses new ones. */
    public Llama(Model model, Backend backend) {
        this(model.config(), model.weights(), backend, model);
    }

    private Llama(ModelConfig config, LlamaWeights weights, Backend backend, Model model) {
        this.c = config;
        this.w = weights;
        this.backend = backend;
        this.rope = new Rope(config);
        this.model = model;
    }

    public ModelConfig config() {
        return c;
    }

    public Backend backend() {
        return backend;
    }

    /** An empty cache for up to {@code capacity} rows. */
    public KvCache newCache(int capacity) {
        return backend.newCache(c, capacity, null);
    }

    /** A cache for {@code capacity} more rows on top of a shared, read-only prefix. */
    public KvCache newCache(int capacity, KvCache prefix) {
        return backend.newCache(c, capacity, prefix);
    }

    /** Embedding rows of {@code tokens} on the host ([tokens.length][dim], row-major). */
    public float[] embed(int[] tokens) {
        float[] out = new float[tokens.length * c.dim()];
        try (Model.Use u = use()) {
            for (int t = 0; t < tokens.length; t++) {
                checkToken(tokens[t]);
                w.tokenEmbedding().readRow(tokens[t], out, t * c.dim());
            }
        }
        return out;
    }

    /**
     * SAC's encoder input: the embeddings of {@code tokens}, role vector {@code roleIds[i]} of {@code roles} added at
     * row {@code rows[i]} (roles null: none), run at {@code positions} into {@code cache}; no logits. Both steps
     * run on the backend, so only token ids travel to a device.
     */
    public void forwardAnchored(int[] tokens, int[] positions, KvCache cache, Mask mask, Tensor roles, int[] rows, int[] roleIds) {
        forwardTokens(tokens, positions, new KvCache[]{cache}, mask, Logits.NONE, roles, rows, roleIds);
    }

    /** Runs {@code tokens} at {@code positions}; see {@link #forwardEmbeddings}. */
    public float[] forward(int[] tokens, int[] positions, KvCache cache, Mask mask, Logits logits) {
        return forwardTokens(tokens, positions, new KvCache[]{cache}, mask, logits, null, null, null);
    }

    /** The tokens' embeddings, plus role vectors at anchor rows if {@code roles} is set, through {@link #run}. */
    private float[] forwardTokens(int[] tokens, int[] positions, KvCache[] caches, Mask mask, Logits logits,
                                  Tensor roles, int[] rows, int[] roleIds) {
        for (int t : tokens) checkToken(t);
        try (Model.Use u = use()) {
            Buf x = backend.alloc(tokens.length, c.dim());
            backend.embed(x, w.tokenEmbedding(), tokens);
            if (roles != null) backend.roleAdd(x, roles, rows, roleIds);
            return run(x, positions, caches, mask, logits);
        }
    }

    /**
     * Runs input embeddings {@code x} ([rows][dim]) at {@code positions}, appends their K/V to {@code cache} and
     * returns logits: none, the last row's [vocab], or all rows' [rows][vocab].
     */
    public float[] forwardEmbeddings(float[] x, int rows, int[] positions, KvCache cache, Mask mask, Logits logits) {
        if (x.length != rows * c.dim()) throw new IllegalArgumentException("embeddings: " + x.length + " floats for " + rows + " rows of " + c.dim());
        try (Model.Use u = use()) {
            Buf in = backend.alloc(rows, c.dim());
            backend.write(in, x);
            return run(in, positions, new KvCache[]{cache}, mask, logits);
        }
    }

    /**
     * One decoding step of several sequences at once: row i is token {@code tokens[i]} at {@code positions[i]}; its
     * K/V go to {@code caches[i]} (one cache per sequence, e.g. one per question over a shared compressed context)
     * and it attends to all of that cache ({@code mask} as for one row: causal, or prefix). The matrix products run
     * once over all rows, so each weight is read once per step rather than once per sequence; attention runs per
     * row. Returns every row's logits ([rows][vocab]). On the CPU, up to {@code CpuMatmul.EXACT_ROWS} rows, row i's
     * logits equal, bit for bit, those of {@code forward(new int[]{tokens[i]}, ..., caches[i], mask, LAST)}.
     */
    public float[] decodeEach(int[] tokens, int[] positions, KvCache[] caches, Mask mask) {
        if (caches.length != tokens.length)
            throw new IllegalArgumentException(tokens.length + " tokens but " + caches.length + " caches");
        for (int i = 0; i < caches.length; i++) {
            for (int j = 0; j < i; j++)
                if (caches[j] == caches[i]) throw new IllegalArgumentException("decodeEach: rows " + j + " and " + i + " share a cache");
            if (caches[i].length() + 1 > caches[i].capacity())
                throw new IllegalArgumentException("KV cache " + i + " holds " + caches[i].capacity() + " rows; it is full");
        }
        return forwardTokens(tokens, positions, caches, mask, Logits.ALL, null, null, null);
    }

    private Model.Use use() {
        return model == null ? () -> { } : model.use();
    }

    private void checkToken(int t) {
        if (t < 0 || t >= c.vocabSize()) throw new IllegalArgumentException("token id " + t + " is outside the vocabulary (0.." + (c.vocabSize() - 1) + ")");
    }

    /** Runs the rows into {@code caches[0]}, or, with one cache per row, row i into caches[i] (decodeEach). */
    private float[] run(Buf x, int[] positions, KvCache[] caches, Mask mask, Logits logits) {
        int rows = x.rows();
        if (positions.length != rows) throw new IllegalArgumentException(rows + " rows but " + positions.length + " positions");
        if (rows == 0) throw new IllegalArgumentException("nothing to run: 0 rows");
        KvCache cache = caches[0];
        boolean each = caches.length > 1;
        if (!each && cache.length() + rows > cache.capacity())
            throw new IllegalArgumentException("KV cache holds " + cache.capacity() + " rows; " + cache.length() + " + " + rows + " do not fit");
        Rope.Table angles = rope.table(positions);
        Buf xb = backend.alloc(rows, c.dim());
        Buf q = backend.alloc(rows, c.qDim()), k = backend.alloc(rows, c.kvDim()), v = backend.alloc(rows, c.kvDim());
        Buf att = backend.alloc(rows, c.qDim());
        Buf gate = backend.alloc(rows, c.hiddenDim()), up = backend.alloc(rows, c.hiddenDim());

        for (int l = 0; l < c.nLayers(); l++) {
            LlamaWeights.Layer L = w.layers()[l];
            // attention: norm, q/k/v projections (+ biases for qwen2), RoPE on q and k
            backend.rmsNorm(xb, x, L.attnNorm(), c.normEps());
            backend.matmul(q, xb, L.wq());
            backend.matmul(k, xb, L.wk());
            backend.matmul(v, xb, L.wv());
            if (L.bq() != null) {
                backend.addBias(q, L.bq());
                backend.addBias(k, L.bk());
                backend.addBias(v, L.bv());
            }
            backend.rope(q, c.nHeads(), angles);
            backend.rope(k, c.nKvHeads(), angles);
            // store k/v in the cache and attend over the rows the mask allows
            if (each) backend.attendEach(att, q, k, v, caches, l, mask, c);
            else backend.attention(att, q, k, v, cache, l, mask, c);
            // output projection and residual
            backend.matmul(xb, att, L.wo());
            backend.add(x, xb);
            // feed-forward: norm, SwiGLU, down projection, residual
            backend.rmsNorm(xb, x, L.ffnNorm(), c.normEps());
            backend.matmul(gate, xb, L.wGate());
            backend.matmul(up, xb, L.wUp());
            backend.swiglu(gate, up);
            backend.matmul(xb, gate, L.wDown());
            backend.add(x, xb);
        }
        if (each) for (KvCache one : caches) one.advance(1);
        else cache.advance(rows);
        if (logits == Logits.NONE) return null;

        // final norm and vocabulary projection of the rows asked for
        Buf last = logits == Logits.LAST ? backend.lastRow(x) : x;
        Buf normed = backend.alloc(last.rows(), c.dim());
        backend.rmsNorm(normed, last, w.finalNorm(), c.normEps());
        Buf out = backend.alloc(last.rows(), c.vocabSize());
        backend.matmul(out, normed, w.output());
        float[] result = new float[last.rows() * c.vocabSize()];
        float[] row = new float[c.vocabSize()];
        for (int r = 0; r < last.rows(); r++) {
            backend.readRow(out, r, row);
            System.arraycopy(row, 0, result, r * c.vocabSize(), row.length);
        }
        return result;
    }
}
