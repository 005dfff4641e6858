package io.sac4j.tokenize;

import io.sac4j.SacException;

import java.util.Map;

/**
 * Builds the tokenizer that a GGUF file describes in its tokenizer.ggml.* metadata (values as the GGUF loader gives
 * them: Long, Double, String, Boolean, long[], double[], String[], boolean[]).
 * <ul>
 *   <li>"gpt2": byte-level BPE from tokens + merges; token_type 3 (control) and 4 (user defined) are added tokens.
 *       tokenizer.ggml.pre picks the pre-tokenizer: "llama-bpe"/"llama3" (Llama 3 regex, ignore_merges),
 *       "qwen2" (Qwen2 regex, plus NFC as Qwen2's tokenizer.json does), "smollm"/"starcoder"/"refact" (each digit
 *       alone, then GPT-2's regex, as llama.cpp and SmolLM2's tokenizer.json do), "gpt2"/"gpt-2"/"default" or
 *       none (GPT-2's regex). Other names are refused rather than tokenized wrongly.</li>
 *   <li>"llama": SentencePiece-style score merging over tokens + scores with "▁" for spaces, a dummy-prefix space
 *       (tokenizer.ggml.add_space_prefix, default true) and &lt;0xXX&gt; byte fallback: the llama2.c algorithm.</li>
 * </ul>
 */
public final class GgufTokenizer {
    private GgufTokenizer() {}

    public static Tokenizer fromMetadata(String source, Map<String, Object> md) {
        Object model = md.get("tokenizer.ggml.model");
        if (model == null) throw new SacException(source, "no tokenizer in the metadata (tokenizer.ggml.model is missing)");
        if (!(model instanceof String name)) {
            throw new SacException(source, "metadata tokenizer.ggml.model must be a string, got " + describe(model));
        }
        String[] tokens = strings(source, md, "tokenizer.ggml.tokens", true);
        long[] types = longs(source, md, "tokenizer.ggml.token_type", false);
        if (types != null && types.length != tokens.length) {
            throw new SacException(source, "metadata tokenizer.ggml.token_type has " + types.length + " entries for "
                    + tokens.length + " tokens");
        }
        switch (name) {
            case "gpt2": {
                String[] merges = strings(source, md, "tokenizer.ggml.merges", true);
                return BpeTokenizer.fromArrays(source, tokens, types, merges, preset(source, md.get("tokenizer.ggml.pre")));
            }
            case "llama": {
                double[] scores = doubles(source, md, "tokenizer.ggml.scores");
                if (scores.length != tokens.length) {
                    throw new SacException(source, "metadata tokenizer.ggml.scores has " + scores.length
                            + " entries for " + tokens.length + " tokens");
                }
                float[] f = new float[scores.length];
                for (int i = 0; i < f.length; i++) f[i] = (float) scores[i];
                int bos = id(source, md, "tokenizer.ggml.bos_token_id", 1, tokens.length);
                int unk = id(source, md, "tokenizer.ggml.unknown_token_id", 0, tokens.length);
                Object prefix = md.get("tokenizer.ggml.add_space_prefix");
                if (prefix != null && !(prefix instanceof Boolean)) {
                    throw new SacException(source, "metadata tokenizer.ggml.add_space_prefix must be a bool, got "
                            + describe(prefix));
                }
                return Llama2cTokenizer.fromSentencePiece(source, tokens, f, types, bos, unk,
                        prefix == null || (Boolean) prefix);
            }
            default:
                throw new SacException(source, "tokenizer.ggml.model \"" + name + "\" is not supported (gpt2 or llama)");
        }
    }

    private static BpeTokenizer.Preset preset(String source, Object pre) {
        if (pre == null) return BpeTokenizer.Preset.GPT2;
        if (!(pre instanceof String s)) {
            throw new SacException(source, "metadata tokenizer.ggml.pre must be a string, got " + describe(pre));
        }
        return switch (s) {
            case "llama-bpe", "llama3" -> BpeTokenizer.Preset.LLAMA3;
            case "qwen2" -> BpeTokenizer.Preset.QWEN2;
            case "smollm", "starcoder", "refact" -> BpeTokenizer.Preset.SMOLLM;
            case "gpt2", "gpt-2", "default" -> BpeTokenizer.Preset.GPT2;
            default -> throw new SacException(source, "tokenizer.ggml.pre \"" + s + "\" is not supported"
                    + " (llama-bpe, qwen2, smollm, gpt2)");
        };
    }

    private static String[] strings(String source, Map<String, Object> md, String key, boolean required) {
        Object v = md.get(key);
        if (v == null) {
            if (required) throw new SacException(source, "metadata " + key + " is missing");
            return null;
        }
        if (v instanceof String[] a) return a;
        throw new SacException(source, "metadata " + key + " must be an array of strings, got " + describe(v));
    }

    private static long[] longs(String source, Map<String, Object> md, String key, boolean required) {
        Object v = md.get(key);
        if (v == null) {
            if (required) throw new SacException(source, "metadata " + key + " is missing");
            return null;
        }
        if (v instanceof long[] a) return a;
        throw new SacException(source, "metadata " + key + " must be an array of integers, got " + describe(v));
    }

    private static double[] doubles(String source, Map<String, Object> md, String key) {
        Object v = md.get(key);
        if (v == null) throw new SacException(source, "metadata " + key + " is missing");
        if (v instanceof double[] a) return a;
        throw new SacException(source, "metadata " + key + " must be an array of floats, got " + describe(v));
    }

    private static int id(String source, Map<String, Object> md, String key, int dflt, int n) {
        Object v = md.get(key);
        if (v == null) return dflt;
        if (!(v instanceof Long l)) throw new SacException(source, "metadata " + key + " must be an integer, got " + describe(v));
        if (l < 0 || l >= n) throw new SacException(source, "metadata " + key + " = " + l + " is outside the " + n + " tokens");
        return l.intValue();
    }

    private static String describe(Object v) {
        if (v instanceof long[] a) return "an integer array of " + a.length;
        if (v instanceof double[] a) return "a float array of " + a.length;
        if (v instanceof String[] a) return "a string array of " + a.length;
        if (v instanceof boolean[] a) return "a bool array of " + a.length;
        if (v instanceof String s) return "\"" + s + "\"";
        return String.valueOf(v);
    }
}
