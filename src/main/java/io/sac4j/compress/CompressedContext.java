package io.sac4j.compress;

import io.sac4j.forward.KvCache;

/**
 * A context compressed once, answered many times: the anchor rows' post-RoPE keys and values of every layer
 * (a read-only {@link KvCache} prefix), and what is needed to check it is used with the model that made it.
 *
 * @param modelFingerprint   hex digest of the base model (config, tensor shapes, weights sample)
 * @param adapterFingerprint hex digest of the SAC adapter, or "none" in training-free mode and for baselines
 * @param ratio              compression ratio r (one anchor every r tokens); 1 for the full-context baseline
 * @param contextTokens      n: tokens of [BOS] + "### Context:\n" + context; the answer starts at position n
 * @param anchors            rows kept (= cache.length())
 * @param cache              the anchors' K/V, all layers, chunks in order; shared by every question, never written
 * @param kind               how the rows were made, which decides where the question goes (see {@link Kind})
 */
public record CompressedContext(String modelFingerprint, String adapterFingerprint, int ratio, int contextTokens,
                                int anchors, KvCache cache, Kind kind) {

    /** The adapter fingerprint of contexts made without an adapter. */
    public static final String NO_ADAPTER = "none";

    public enum Kind {
        /** SAC with an adapter: the decoder starts with the [LM] vector at position n, the question at n+1, ... */
        SAC,
        /** Training-free SAC (no adapter): no [LM]; the question starts at position n+1. */
        TRAINING_FREE,
        /**
         * A baseline without compression (full context, or truncated to the anchor budget): the kept tokens were
         * run causally at positions 0..anchors-1 and the question follows at position anchors.
         */
        PLAIN
    }

    public CompressedContext {
        if (cache.length() != anchors)
            throw new IllegalArgumentException("cache holds " + cache.length() + " rows, expected " + anchors + " anchors");
        if (kind == null) throw new IllegalArgumentException("kind is null");
    }

    /** A SAC context; training-free when {@code adapterFingerprint} is {@value #NO_ADAPTER}. */
    public CompressedContext(String modelFingerprint, String adapterFingerprint, int ratio, int contextTokens,
                             int anchors, KvCache cache) {
        this(modelFingerprint, adapterFingerprint, ratio, contextTokens, anchors, cache,
                NO_ADAPTER.equals(adapterFingerprint) ? Kind.TRAINING_FREE : Kind.SAC);
    }

    /** Bytes of the kept keys and values as f32: anchors x layers x kvDim x 2 x 4. */
    public long bytes(int layers, int kvDim) {
        return anchors * rowBytes(layers, kvDim);
    }

    /** Bytes of one cached row (one token or anchor): its key and value in every layer, f32. */
    public static long rowBytes(int layers, int kvDim) {
        return (long) layers * kvDim * 2 * Float.BYTES;
    }
}
