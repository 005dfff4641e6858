package io.sac4j.load;

import io.sac4j.SacException;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Hugging Face Llama / Qwen2 directory: config.json ({@link HfConfig}) and the weights in model.safetensors or in
 * shards listed by model.safetensors.index.json. Tensors keep their stored dtype (F32, F16 or BF16, mixed freely)
 * and are checked for presence and shape against the config.
 */
public final class SafetensorsLoader {
    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";

    private SafetensorsLoader() {
    }

    /** Whether {@code dir} looks like a Hugging Face model directory. */
    public static boolean isHfDirectory(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve("config.json"));
    }

    /** Reads the config and maps the weight files of {@code dir} into {@code arena}. */
    public static LoadedWeights load(Path dir, Arena arena) {
        ModelConfig config = HfConfig.read(dir);
        Tensors t = tensors(dir, arena);
        int dim = config.dim(), q = config.qDim(), kv = config.kvDim(), hid = config.hiddenDim();
        Tensor emb = t.get("model.embed_tokens.weight", config.vocabSize(), dim);
        // each layer is several tensors: more layers than tensors is a corrupt config and must not size an array
        if (config.nLayers() > t.byName().size())
            throw new SacException(dir.resolve("config.json"), "num_hidden_layers = " + config.nLayers()
                    + ", but the weights hold only " + t.byName().size() + " tensors");
        LlamaWeights.Layer[] layers = new LlamaWeights.Layer[config.nLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            boolean b = config.qkvBias();
            layers[i] = new LlamaWeights.Layer(
                    t.get(p + "input_layernorm.weight", dim),
                    t.get(p + "self_attn.q_proj.weight", q, dim),
                    t.get(p + "self_attn.k_proj.weight", kv, dim),
                    t.get(p + "self_attn.v_proj.weight", kv, dim),
                    t.get(p + "self_attn.o_proj.weight", dim, q),
                    b ? t.get(p + "self_attn.q_proj.bias", q) : null,
                    b ? t.get(p + "self_attn.k_proj.bias", kv) : null,
                    b ? t.get(p + "self_attn.v_proj.bias", kv) : null,
                    t.get(p + "post_attention_layernorm.weight", dim),
                    t.get(p + "mlp.gate_proj.weight", hid, dim),
                    t.get(p + "mlp.down_proj.weight", dim, hid),
                    t.get(p + "mlp.up_proj.weight", hid, dim));
        }
        Tensor norm = t.get("model.norm.weight", dim);
        // tied models may still carry a copy of lm_head.weight; like transformers, the embedding wins
        Tensor out = config.tiedEmbeddings() ? emb : t.get("lm_head.weight", config.vocabSize(), dim);
        return new LoadedWeights(config, new LlamaWeights(emb, layers, norm, out));
    }

    /** The tensors of a directory, with the file each one lives in (for error messages). */
    private record Tensors(Map<String, SafetensorsFile> byName, String indexSource) {
        Tensor get(String name, long... shape) {
            SafetensorsFile f = byName.get(name);
            if (f == null) throw new SacException(indexSource, "missing tensor " + name);
            return Mapped.expect(f.source(), name, f.tensor(name), shape);
        }
    }

    private static Tensors tensors(Path dir, Arena arena) {
        Path single = dir.resolve(SINGLE);
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single, arena);
            Map<String, SafetensorsFile> m = new HashMap<>();
            for (String n : f.names()) m.put(n, f);
            return new Tensors(m, f.source());
        }
        Path index = dir.resolve(INDEX);
        if (!Files.isRegularFile(index))
            throw new SacException(dir, "no " + SINGLE + " or " + INDEX + " in this directory");
        String src = index.toString();
        Map<String, Object> weightMap = Json.obj(Json.parseObject(Mapped.readText(index), src), "weight_map", src);
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byName = new HashMap<>();
        Path base = dir.toAbsolutePath().normalize();
        for (Map.Entry<String, Object> e : weightMap.entrySet()) {
            if (!(e.getValue() instanceof String file))
                throw new SacException(src, "weight_map entry for " + e.getKey() + " must be a file name");
            SafetensorsFile shard = shards.get(file);
            if (shard == null) {
                Path p;
                try {
                    p = dir.resolve(file);
                } catch (InvalidPathException ex) { // a NUL or unpaired surrogate in the name
                    throw new SacException(src, "weight_map file name for " + e.getKey() + " is not a valid file name");
                }
                // shard names come from the file: keep them inside the model directory
                if (!base.equals(p.toAbsolutePath().normalize().getParent()))
                    throw new SacException(src, "weight_map file " + file + " is not in the model directory");
                shard = SafetensorsFile.open(p, arena);
                shards.put(file, shard);
            }
            if (shard.entry(e.getKey()) == null)
                throw new SacException(shard.source(), "missing tensor " + e.getKey() + " (listed in " + INDEX + ")");
            byName.put(e.getKey(), shard);
        }
        return new Tensors(byName, src);
    }
}
