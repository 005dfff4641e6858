package io.sac4j.load;

import io.sac4j.SacException;

/**
 * Hyper-parameters of a Llama-family decoder, whatever file format they came from.
 *
 * @param arch         "llama" or "qwen2" (qwen2 = llama with q/k/v biases)
 * @param dim          hidden size
 * @param hiddenDim    feed-forward (SwiGLU) size
 * @param nLayers      transformer blocks
 * @param nHeads       query heads
 * @param nKvHeads     key/value heads (grouped-query attention when < nHeads)
 * @param headDim      size of one head
 * @param vocabSize    rows of the embedding table
 * @param maxSeqLen    trained context length (informational; positions beyond it are allowed)
 * @param normEps      RMSNorm epsilon
 * @param ropeTheta    RoPE base
 * @param ropeStyle    which element pairs RoPE rotates
 * @param ropeScaling  Llama 3.x frequency scaling, or null
 * @param qkvBias      whether q/k/v projections have biases
 * @param tiedEmbeddings whether the output head reuses the embedding table
 * @param bosId        beginning-of-sequence token, or -1
 * @param eosIds       end-of-sequence tokens (generation stops at any of them)
 * @param ropeFreqFactors per-frequency divisors (headDim/2 of them) applied to RoPE's inverse frequencies, or null:
 *                     GGUF stores Llama 3.x rope scaling this way (tensor rope_freqs.weight) instead of parameters,
 *                     so inv_freq[i] = theta^(-2i/headDim) / ropeFreqFactors[i] (as ggml's rope "freq_factors")
 */
public record ModelConfig(String arch, int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int headDim,
                          int vocabSize, int maxSeqLen, float normEps, float ropeTheta, RopeStyle ropeStyle,
                          RopeScaling ropeScaling, boolean qkvBias, boolean tiedEmbeddings, int bosId, int[] eosIds,
                          float[] ropeFreqFactors) {

    /** A configuration without per-frequency RoPE factors (every format but GGUF Llama 3.x). */
    public ModelConfig(String arch, int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int headDim,
                       int vocabSize, int maxSeqLen, float normEps, float ropeTheta, RopeStyle ropeStyle,
                       RopeScaling ropeScaling, boolean qkvBias, boolean tiedEmbeddings, int bosId, int[] eosIds) {
        this(arch, dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize, maxSeqLen, normEps, ropeTheta,
                ropeStyle, ropeScaling, qkvBias, tiedEmbeddings, bosId, eosIds, null);
    }

    /** RoPE pairs: ADJACENT rotates (x[2i], x[2i+1]) (llama2.c, GGUF llama); HALVES rotates (x[i], x[i+d/2]) (HF). */
    public enum RopeStyle { ADJACENT, HALVES }

    /** HF rope_scaling {"rope_type": "llama3", factor, low_freq_factor, high_freq_factor, original_max_position_embeddings}. */
    public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalMaxPositions) {
    }

    public ModelConfig {
        String where = "model config";
        if (dim <= 0 || hiddenDim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || headDim <= 0 || vocabSize <= 0)
            throw new SacException(where, "sizes must be positive (dim " + dim + ", hidden " + hiddenDim + ", layers "
                    + nLayers + ", heads " + nHeads + ", kv heads " + nKvHeads + ", head dim " + headDim + ", vocab " + vocabSize + ")");
        if (nHeads % nKvHeads != 0)
            throw new SacException(where, "heads " + nHeads + " is not a multiple of kv heads " + nKvHeads);
        if (headDim % 2 != 0) throw new SacException(where, "head dim " + headDim + " is odd; RoPE needs pairs");
        if (!(normEps > 0) || !(ropeTheta > 0)) throw new SacException(where, "norm eps and rope theta must be > 0");
        long maxElems = 1L << 31;
        if ((long) nHeads * headDim >= maxElems || (long) hiddenDim * dim >= 1L << 40)
            throw new SacException(where, "sizes are too large");
        if (ropeFreqFactors != null) {
            if (ropeFreqFactors.length != headDim / 2)
                throw new SacException(where, ropeFreqFactors.length + " RoPE frequency factors, expected head dim / 2 = " + headDim / 2);
            for (float f : ropeFreqFactors)
                if (!(f > 0) || Float.isInfinite(f)) throw new SacException(where, "RoPE frequency factor " + f + " is not a positive number");
            if (ropeScaling != null) throw new SacException(where, "both rope scaling parameters and frequency factors given");
        }
    }

    /** Width of the key/value projections. */
    public int kvDim() {
        return nKvHeads * headDim;
    }

    /** Width of the query projection. */
    public int qDim() {
        return nHeads * headDim;
    }

    public boolean isEos(int token) {
        for (int e : eosIds) if (e == token) return true;
        return false;
    }
}
