package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.Backend;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Mask;
import io.sac4j.load.DType;
import io.sac4j.load.LlamaWeights;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The SAC encoder (SAC.md, "Compression"): the base model with the adapter's LoRA merged into every layer's q and v
 * projections, run over the context in independent chunks of {@value Anchors#CHUNK} tokens with bidirectional
 * attention inside each chunk, global 1-indexed positions, and the adapter's role tokens added to the anchors' input
 * embeddings. What it keeps is every layer's post-RoPE K and V at the anchor rows.
 *
 * <p>The merge W' = W + 2 (A B)^T happens once, on first use, into f32 tensors held by this compressor's arena
 * (dequantised from the base type). Without an adapter (training-free mode) the encoder is the base model and no
 * role tokens are added. Thread-safe: each call makes its own caches; the weights are only read.
 */
public final class Compressor implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final ModelConfig config;
    private final LlamaWeights base;
    private final Backend backend;
    private final SacAdapter adapter;
    private final String modelFingerprint;
    private final String adapterFingerprint;
    private final Tensor roles;  // the adapter's role_tokens [memSize][dim] as a tensor (a device uploads it once)
    private Arena arena;
    private volatile Llama encoder;
    private volatile boolean closed;

    /** {@code adapter} null means training-free mode. The adapter must fit {@code config} (see {@link #check}). */
    public Compressor(ModelConfig config, LlamaWeights base, SacAdapter adapter, Backend backend, String modelFingerprint) {
        this.config = config;
        this.base = base;
        this.backend = backend;
        this.adapter = adapter;
        this.modelFingerprint = modelFingerprint;
        this.adapterFingerprint = adapter == null ? CompressedContext.NO_ADAPTER : adapter.fingerprint();
        if (adapter != null) check(adapter, config);
        this.roles = adapter == null ? null : new Tensor("role_tokens", DType.F32,
                new long[]{adapter.memSize(), config.dim()}, MemorySegment.ofArray(adapter.roleTokens()));
    }

    /** Checks that every array of {@code a} has the size {@code c} needs; names what does not fit. */
    static void check(SacAdapter a, ModelConfig c) {
        String src = a.source();
        int dim = c.dim(), rank = a.rank();
        if (a.layers() != c.nLayers())
            throw new SacException(src, "LoRA for " + a.layers() + " layers, the model has " + c.nLayers() + " (adapter made for another model?)");
        expect(src, "role_tokens", a.roleTokens().length, (long) a.memSize() * dim);
        expect(src, "special_tokens", a.specialTokens().length, 2L * dim);
        for (int l = 0; l < c.nLayers(); l++) {
            expect(src, "layer " + l + " q_proj.lora_A", a.qA(l).length, (long) dim * rank);
            expect(src, "layer " + l + " q_proj.lora_B", a.qB(l).length, (long) rank * c.qDim());
            expect(src, "layer " + l + " v_proj.lora_A", a.vA(l).length, (long) dim * rank);
            expect(src, "layer " + l + " v_proj.lora_B", a.vB(l).length, (long) rank * c.kvDim());
        }
    }

    private static void expect(String src, String what, long got, long want) {
        if (got != want)
            throw new SacException(src, what + " has " + got + " values, the model needs " + want + " (adapter made for another model?)");
    }

    public String adapterFingerprint() {
        return adapterFingerprint;
    }

    /**
     * Compresses context ids (the whole encoder input, [BOS] + "### Context:\n" + context, n = ids.length) at ratio
     * r: one anchor every r tokens.
     */
    public CompressedContext compress(int[] ids, int ratio, CompressOptions options) {
        Anchors.checkRatio(ratio);
        checkIds(ids, config.vocabSize());
        if (adapter != null && adapter.memSize() != Anchors.perFullChunk(ratio))
            throw new SacException(adapter.source(), "the adapter has " + adapter.memSize()
                    + " role tokens, but ratio " + ratio + " puts " + Anchors.perFullChunk(ratio) + " anchors in a full chunk of "
                    + Anchors.CHUNK + " tokens: the adapter was trained for another ratio");
        int n = ids.length, chunk = Anchors.CHUNK;
        int[][] anchors = options.randomAnchorSeed() == null ? Anchors.uniform(n, ratio)
                : Anchors.random(n, ratio, options.randomAnchorSeed());
        Llama enc = encoder();
        // a causal encoder sees everything before it in the call, so it runs one chunk per call
        int perCall = options.causalEncoder() ? 1 : options.chunksPerCall();
        Mask mask = options.causalEncoder() ? Mask.causal() : Mask.blocks(chunk);
        Tensor roles = options.noAnchorEmbedding() ? null : this.roles;
        KvCache work = enc.newCache((int) Math.min(n, (long) perCall * chunk));
        List<KvCache> parts = new ArrayList<>();
        for (int c0 = 0; c0 < anchors.length; c0 += perCall) {
            int c1 = Math.min(anchors.length, c0 + perCall);
            int start = c0 * chunk, end = (int) Math.min(n, (long) c1 * chunk), rows = end - start;
            int[] positions = new int[rows];
            for (int i = 0; i < rows; i++) positions[i] = start + i + 1; // global, 1-indexed
            int[] local = new int[Arrays.stream(anchors, c0, c1).mapToInt(a -> a.length).sum()], roleIds = new int[local.length];
            int j = 0;
            for (int k = c0; k < c1; k++) {
                for (int m = 0; m < anchors[k].length; m++) {
                    local[j] = anchors[k][m] - start;
                    roleIds[j++] = m;  // the m-th anchor of its chunk gets role token m
                }
            }
            work.truncate(0);
            // embedding and role vectors on the backend: a device gets token ids, not rows x dim floats
            enc.forwardAnchored(Arrays.copyOfRange(ids, start, end), positions, work, mask, roles, local, roleIds);
            parts.add(backend.gather(work, local, config));
            if (options.progress() != null) options.progress().update(end, n);
        }
        KvCache cache = parts.size() == 1 ? parts.getFirst() : backend.concat(parts, config);
        return new CompressedContext(modelFingerprint, adapterFingerprint, ratio, n, cache.length(), cache,
                adapter == null ? CompressedContext.Kind.TRAINING_FREE : CompressedContext.Kind.SAC);
    }

    static void checkIds(int[] ids, int vocab) {
        if (ids == null || ids.length == 0) throw new SacException("context ids: empty; at least [BOS] is needed");
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] >= vocab)
                throw new SacException("context ids: token " + ids[i] + " at index " + i + " is outside the vocabulary (0.." + (vocab - 1) + ")");
    }

    /** The encoder, built on first use (the merge costs rank x (q + v) multiply-adds per weight). */
    private Llama encoder() {
        Llama e = encoder;
        if (e != null) return e;
        synchronized (this) {
            if (closed) throw new SacException("this SAC compressor is closed");
            if (encoder == null) encoder = new Llama(config, adapter == null ? base : merged(), backend);
            return encoder;
        }
    }

    private LlamaWeights merged() {
        arena = Arena.ofShared();
        LlamaWeights.Layer[] layers = base.layers().clone();
        for (int l = 0; l < layers.length; l++) {
            LlamaWeights.Layer L = layers[l];
            layers[l] = L.withQv(merge(L.wq(), adapter.qA(l), adapter.qB(l)), merge(L.wv(), adapter.vA(l), adapter.vB(l)));
        }
        return new LlamaWeights(base.tokenEmbedding(), layers, base.finalNorm(), base.output());
    }

    /** W' = W + 2 (A B)^T with W [out, in], A [in, rank], B [rank, out] (row-major), as an f32 tensor. */
    private Tensor merge(Tensor w, float[] a, float[] b) {
        int out = w.rows(), in = w.cols(), rank = adapter.rank();
        float[] at = new float[rank * in]; // A transposed: row r holds A[:, r], contiguous over the input index
        for (int i = 0; i < in; i++)
            for (int r = 0; r < rank; r++) at[r * in + i] = a[i * rank + r];
        MemorySegment seg = arena.allocate((long) out * in * Float.BYTES, 64);
        IntStream.range(0, out).parallel().forEach(o -> {
            float[] row = new float[in], delta = new float[in];
            w.readRow(o, row, 0);
            for (int r = 0; r < rank; r++) {
                float s = b[r * out + o];
                int base = r * in;
                for (int i = 0; i < in; i++) delta[i] += s * at[base + i];
            }
            for (int i = 0; i < in; i++) row[i] += 2 * delta[i];
            MemorySegment.copy(row, 0, seg, F32, (long) o * in * Float.BYTES, in);
        });
        return new Tensor(w.name() + "+lora", DType.F32, new long[]{out, in}, seg);
    }

    /** Frees the merged weights; contexts already made stay usable. Call it when no compression is running. */
    @Override
    public synchronized void close() {
        closed = true;
        encoder = null;
        if (arena != null) arena.close();
        arena = null;
    }
}
