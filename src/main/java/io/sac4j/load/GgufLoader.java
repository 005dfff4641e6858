package io.sac4j.load;

import io.sac4j.SacException;

import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Llama and Qwen2 models in GGUF, named as llama.cpp's converter writes them. llama.cpp's converter permutes the HF
 * q/k rows of Llama so that RoPE can rotate adjacent pairs, hence {@link ModelConfig.RopeStyle#ADJACENT} for
 * "llama"; Qwen2 is stored unpermuted and rotates halves. Llama 3.x rope scaling arrives as the tensor
 * rope_freqs.weight (per-frequency divisors), which becomes {@link ModelConfig#ropeFreqFactors()}.
 */
public final class GgufLoader {
    private GgufLoader() {
    }

    public static LoadedWeights load(GgufFile g) {
        String src = g.source();
        String arch = g.getString("general.architecture", null);
        if (arch == null) throw new SacException(src, "no general.architecture in the metadata");
        if (!arch.equals("llama") && !arch.equals("qwen2"))
            throw new SacException(src, "unsupported architecture " + arch + " (supported: llama, qwen2)");
        String p = arch + ".";
        int dim = required(g, p + "embedding_length");
        int hidden = required(g, p + "feed_forward_length");
        int layers = required(g, p + "block_count");
        int heads = required(g, p + "attention.head_count");
        int kvHeads = optional(g, p + "attention.head_count_kv", heads);
        int headDim = optional(g, p + "attention.key_length", heads > 0 && dim % heads == 0 ? dim / heads : 0);
        int valueLen = optional(g, p + "attention.value_length", headDim);
        if (valueLen != headDim)
            throw new SacException(src, "attention.value_length " + valueLen + " differs from key_length " + headDim + " (not supported)");
        int ropeDims = optional(g, p + "rope.dimension_count", headDim);
        if (ropeDims != headDim)
            throw new SacException(src, "rope.dimension_count " + ropeDims + " differs from the head dim " + headDim + " (partial RoPE is not supported)");
        int ctx = optional(g, p + "context_length", 2048);
        double eps = g.getDouble(p + "attention.layer_norm_rms_epsilon", 1e-5);
        double theta = g.getDouble(p + "rope.freq_base", 10000.0);
        String scaling = g.getString(p + "rope.scaling.type", "none");
        if (!scaling.equals("none"))
            throw new SacException(src, "rope scaling type " + scaling + " is not supported");
        if (g.tensorInfos().containsKey("blk.0.attn_output.bias"))
            throw new SacException(src, "attention output biases are not supported");

        Tensor embProbe = g.tensor("token_embd.weight");
        if (embProbe == null) throw new SacException(src, "missing tensor token_embd.weight");
        if (embProbe.shape().length != 2)
            throw new SacException(src, "tensor token_embd.weight has " + embProbe.shape().length + " dimensions, expected 2");
        int vocab = Mapped.toInt(src, "rows of token_embd.weight", embProbe.shape()[0]);
        // qwen2 always has q/k/v biases; llama only when the converter found them
        boolean bias = arch.equals("qwen2") || g.tensorInfos().containsKey("blk.0.attn_q.bias");
        boolean tied = !g.tensorInfos().containsKey("output.weight");

        float[] freqFactors = null;
        Tensor rf = g.tensor("rope_freqs.weight");
        if (rf != null) freqFactors = Mapped.expect(src, "rope_freqs.weight", rf, headDim / 2).toFloats();

        int bos = tokenId(g, "tokenizer.ggml.bos_token_id", vocab);
        Set<Integer> eos = new LinkedHashSet<>();
        for (String k : new String[]{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
            int id = tokenId(g, k, vocab);
            if (id >= 0) eos.add(id);
        }
        float[] ff = freqFactors;
        ModelConfig config = Mapped.config(src, () -> new ModelConfig(arch, dim, hidden, layers, heads, kvHeads, headDim,
                vocab, ctx, (float) eps, (float) theta,
                arch.equals("llama") ? ModelConfig.RopeStyle.ADJACENT : ModelConfig.RopeStyle.HALVES,
                null, bias, tied, bos, eos.stream().mapToInt(Integer::intValue).toArray(), ff));

        int q = config.qDim(), kv = config.kvDim();
        Tensor emb = get(g, "token_embd.weight", vocab, dim);
        // each layer is several tensors: a block count beyond the file's tensors is corrupt and must not size an array
        if (layers > g.tensorInfos().size())
            throw new SacException(src, "metadata " + p + "block_count = " + layers + ", but the file has only "
                    + g.tensorInfos().size() + " tensors");
        LlamaWeights.Layer[] ls = new LlamaWeights.Layer[layers];
        for (int i = 0; i < layers; i++) {
            String b = "blk." + i + ".";
            ls[i] = new LlamaWeights.Layer(
                    get(g, b + "attn_norm.weight", dim),
                    get(g, b + "attn_q.weight", q, dim),
                    get(g, b + "attn_k.weight", kv, dim),
                    get(g, b + "attn_v.weight", kv, dim),
                    get(g, b + "attn_output.weight", dim, q),
                    bias ? get(g, b + "attn_q.bias", q) : null,
                    bias ? get(g, b + "attn_k.bias", kv) : null,
                    bias ? get(g, b + "attn_v.bias", kv) : null,
                    get(g, b + "ffn_norm.weight", dim),
                    get(g, b + "ffn_gate.weight", hidden, dim),
                    get(g, b + "ffn_down.weight", dim, hidden),
                    get(g, b + "ffn_up.weight", hidden, dim));
        }
        Tensor norm = get(g, "output_norm.weight", dim);
        Tensor out = tied ? emb : get(g, "output.weight", vocab, dim);
        return new LoadedWeights(config, new LlamaWeights(emb, ls, norm, out));
    }

    private static Tensor get(GgufFile g, String name, long... shape) {
        return Mapped.expect(g.source(), name, g.tensor(name), shape);
    }

    private static int required(GgufFile g, String key) {
        long v = g.getLong(key, -1);
        if (v == -1 && !g.metadata().containsKey(key)) throw new SacException(g.source(), "missing metadata " + key);
        return positive(g, key, v);
    }

    private static int optional(GgufFile g, String key, int dflt) {
        return g.metadata().containsKey(key) ? positive(g, key, g.getLong(key, 0)) : dflt;
    }

    private static int positive(GgufFile g, String key, long v) {
        if (v <= 0 || v > Integer.MAX_VALUE) throw new SacException(g.source(), "metadata " + key + " = " + v + " is out of range");
        return (int) v;
    }

    /** A token id from the metadata, or -1 when absent. */
    private static int tokenId(GgufFile g, String key, int vocab) {
        long v = g.getLong(key, -1);
        if (v == -1 && !g.metadata().containsKey(key)) return -1;
        if (v < 0 || v >= vocab)
            throw new SacException(g.source(), "metadata " + key + " = " + v + " is not a token id (vocab " + vocab + ")");
        return (int) v;
    }
}
