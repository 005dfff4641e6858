package io.sac4j.load;

import io.sac4j.SacException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face model directory's config.json (plus generation_config.json's eos ids) as a {@link ModelConfig}.
 * Defaults follow transformers' LlamaConfig / Qwen2Config. Only what the forward pass implements is accepted:
 * SiLU MLPs, no o_proj/MLP biases, no sliding window, RoPE unscaled or "llama3"-scaled.
 */
public final class HfConfig {
    private HfConfig() {
    }

    /** Reads {@code dir}/config.json and, when present, {@code dir}/generation_config.json. */
    public static ModelConfig read(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new SacException(dir, "no config.json in this directory");
        String src = file.toString();
        Map<String, Object> c = Json.parseObject(Mapped.readText(file), src);

        String arch = arch(c, src);
        int dim = positive(c, "hidden_size", -1, src);
        int hidden = positive(c, "intermediate_size", -1, src);
        int layers = positive(c, "num_hidden_layers", -1, src);
        int heads = positive(c, "num_attention_heads", -1, src);
        int kvHeads = positive(c, "num_key_value_heads", heads, src);
        if (c.get("head_dim") == null && dim % heads != 0)
            throw new SacException(src, "hidden_size " + dim + " is not a multiple of num_attention_heads " + heads);
        int headDim = positive(c, "head_dim", dim / heads, src);
        int vocab = positive(c, "vocab_size", -1, src);
        int maxPos = positive(c, "max_position_embeddings", arch.equals("qwen2") ? 32768 : 2048, src);
        double eps = Json.number(c, "rms_norm_eps", 1e-6, src);
        double theta = Json.number(c, "rope_theta", 10000.0, src);
        if (!(eps > 0) || !(theta > 0)) throw new SacException(src, "rms_norm_eps and rope_theta must be positive");
        if (heads % kvHeads != 0)
            throw new SacException(src, "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        if (headDim % 2 != 0) throw new SacException(src, "head_dim " + headDim + " is odd; RoPE needs pairs");

        String act = Json.string(c, "hidden_act", "silu", src);
        if (!act.equals("silu")) throw new SacException(src, "hidden_act \"" + act + "\" is not supported (only silu)");
        if (Boolean.TRUE.equals(c.get("mlp_bias"))) throw new SacException(src, "mlp_bias is not supported");
        boolean qkvBias;
        if (arch.equals("qwen2")) {
            qkvBias = true; // Qwen2 always has q/k/v biases (and none on o_proj)
            if (Boolean.TRUE.equals(c.get("use_sliding_window")))
                throw new SacException(src, "use_sliding_window is not supported");
        } else {
            // Llama's attention_bias puts a bias on o_proj as well, which the forward pass does not have
            if (Boolean.TRUE.equals(c.get("attention_bias")))
                throw new SacException(src, "attention_bias is not supported for llama (it adds an o_proj bias)");
            qkvBias = false;
        }
        Object tie = c.get("tie_word_embeddings");
        if (tie != null && !(tie instanceof Boolean)) throw new SacException(src, "\"tie_word_embeddings\" must be true or false");
        boolean tied = Boolean.TRUE.equals(tie);

        int bos = c.get("bos_token_id") == null ? -1 : tokenId(c.get("bos_token_id"), "bos_token_id", vocab, src);
        Set<Integer> eos = new LinkedHashSet<>();
        addIds(eos, c.get("eos_token_id"), vocab, src);
        Path gen = dir.resolve("generation_config.json");
        if (Files.isRegularFile(gen)) {
            Map<String, Object> g = Json.parseObject(Mapped.readText(gen), gen.toString());
            addIds(eos, g.get("eos_token_id"), vocab, gen.toString());
        }
        ModelConfig.RopeScaling scaling = ropeScaling(c, src);
        int[] eosIds = eos.stream().mapToInt(Integer::intValue).toArray();
        return Mapped.config(src, () -> new ModelConfig(arch, dim, hidden, layers, heads, kvHeads, headDim, vocab,
                maxPos, (float) eps, (float) theta, ModelConfig.RopeStyle.HALVES, scaling, qkvBias, tied, bos, eosIds));
    }

    private static String arch(Map<String, Object> c, String src) {
        Object archs = c.get("architectures");
        if (archs != null) {
            if (!(archs instanceof List<?> list)) throw new SacException(src, "\"architectures\" must be a list");
            for (Object a : list) {
                if ("LlamaForCausalLM".equals(a)) return "llama";
                if ("Qwen2ForCausalLM".equals(a)) return "qwen2";
            }
            if (!list.isEmpty())
                throw new SacException(src, "unsupported architecture " + list.get(0)
                        + " (supported: LlamaForCausalLM, Qwen2ForCausalLM)");
        }
        String type = Json.string(c, "model_type", null, src);
        if ("llama".equals(type) || "qwen2".equals(type)) return type;
        throw new SacException(src, type == null ? "no \"architectures\" or \"model_type\": cannot tell the architecture"
                : "unsupported model_type " + type + " (supported: llama, qwen2)");
    }

    private static ModelConfig.RopeScaling ropeScaling(Map<String, Object> c, String src) {
        Object v = c.get("rope_scaling");
        if (v == null) return null;
        if (!(v instanceof Map<?, ?>)) throw new SacException(src, "\"rope_scaling\" must be an object");
        Map<String, Object> r = Json.obj(c, "rope_scaling", src);
        String type = Json.string(r, "rope_type", null, src);
        if (type == null) type = Json.string(r, "type", null, src);
        if (type == null || type.equals("default")) return null;
        if (!type.equals("llama3"))
            throw new SacException(src, "rope_scaling type \"" + type + "\" is not supported (only llama3)");
        if (r.get("factor") == null) throw new SacException(src, "rope_scaling needs a \"factor\"");
        double factor = Json.number(r, "factor", 0, src);
        double low = Json.number(r, "low_freq_factor", 1.0, src);
        double high = Json.number(r, "high_freq_factor", 4.0, src);
        long orig = Json.integer(r, "original_max_position_embeddings", 8192, src);
        if (!(factor > 0) || !(low > 0) || !(high > low) || orig <= 0 || orig > Integer.MAX_VALUE)
            throw new SacException(src, "rope_scaling values are out of range (factor " + factor + ", low_freq_factor "
                    + low + ", high_freq_factor " + high + ", original_max_position_embeddings " + orig + ")");
        return new ModelConfig.RopeScaling((float) factor, (float) low, (float) high, (int) orig);
    }

    /** A positive int field; {@code dflt} < 0 makes it required. A null value counts as absent (HF writes nulls). */
    private static int positive(Map<String, Object> c, String key, int dflt, String src) {
        Object v = c.get(key);
        if (v == null) {
            if (dflt < 0) throw new SacException(src, "missing \"" + key + "\"");
            return dflt;
        }
        if (!(v instanceof Long l) || l <= 0 || l > Integer.MAX_VALUE)
            throw new SacException(src, "\"" + key + "\" must be a positive integer, got " + v);
        return (int) (long) l;
    }

    private static int tokenId(Object v, String key, int vocab, String src) {
        if (!(v instanceof Long l) || l < 0 || l >= vocab)
            throw new SacException(src, "\"" + key + "\" " + v + " is not a token id (vocab_size " + vocab + ")");
        return (int) (long) l;
    }

    private static void addIds(Set<Integer> out, Object v, int vocab, String src) {
        if (v == null) return;
        if (v instanceof List<?> list) {
            for (Object o : list) out.add(tokenId(o, "eos_token_id", vocab, src));
        } else {
            out.add(tokenId(v, "eos_token_id", vocab, src));
        }
    }
}
