package io.sac4j.compress;

import io.sac4j.SacException;

/**
 * How a context is compressed. {@link #DEFAULT} is SAC as published; the other switches are the paper's ablations.
 *
 * @param causalEncoder      ablation: causal attention inside each chunk instead of bidirectional
 * @param noAnchorEmbedding  ablation: no role token added to the anchors' input embeddings
 * @param randomAnchorSeed   ablation: random anchors drawn with this seed ({@link Anchors#random}); null = uniform
 * @param chunksPerCall      chunks run in one encoder call (they still never see each other): more amortises the
 *                           weight reads, fewer keeps activations small; the result is the same
 * @param progress           told (tokens done, tokens in all) after each encoder call, or null
 */
public record CompressOptions(boolean causalEncoder, boolean noAnchorEmbedding, Long randomAnchorSeed,
                              int chunksPerCall, Progress progress) {
    public static final CompressOptions DEFAULT = new CompressOptions(false, false, null, 4, null);

    /** Receives progress of a long compression (e.g. to draw a progress bar). */
    @FunctionalInterface
    public interface Progress {
        void update(int tokensDone, int tokensTotal);
    }

    public CompressOptions {
        if (chunksPerCall < 1) throw new SacException("chunks per call must be >= 1, got " + chunksPerCall);
    }

    public CompressOptions(boolean causalEncoder, boolean noAnchorEmbedding, Long randomAnchorSeed, int chunksPerCall) {
        this(causalEncoder, noAnchorEmbedding, randomAnchorSeed, chunksPerCall, null);
    }

    public CompressOptions withProgress(Progress listener) {
        return new CompressOptions(causalEncoder, noAnchorEmbedding, randomAnchorSeed, chunksPerCall, listener);
    }

    public CompressOptions withCausalEncoder(boolean on) {
        return new CompressOptions(on, noAnchorEmbedding, randomAnchorSeed, chunksPerCall, progress);
    }

    public CompressOptions withNoAnchorEmbedding(boolean on) {
        return new CompressOptions(causalEncoder, on, randomAnchorSeed, chunksPerCall, progress);
    }

    public CompressOptions withRandomAnchors(long seed) {
        return new CompressOptions(causalEncoder, noAnchorEmbedding, seed, chunksPerCall, progress);
    }

    public CompressOptions withChunksPerCall(int chunks) {
        return new CompressOptions(causalEncoder, noAnchorEmbedding, randomAnchorSeed, chunks, progress);
    }
}
