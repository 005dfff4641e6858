package io.sac4j.load;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.sac4j.load.LoadFixtures.assertError;
import static io.sac4j.load.LoadFixtures.copyDir;
import static io.sac4j.load.LoadFixtures.floats;
import static io.sac4j.load.LoadFixtures.writeString;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hugging Face directories written by scripts/models/make_tiny_hf.py, checked against the spot values that script
 * computed with numpy (expected.json); sharded copies and corrupted copies are made here.
 */
class SafetensorsLoaderTest {
    @TempDir
    Path tmp;

    static final Path LLAMA = LoadFixtures.gguf("tiny-llama");
    static final Path QWEN2 = LoadFixtures.gguf("tiny-qwen2");

    @Test
    void llamaConfig() {
        ModelConfig c = HfConfig.read(LLAMA);
        assertEquals("llama", c.arch());
        assertEquals(32, c.dim());
        assertEquals(64, c.hiddenDim());
        assertEquals(2, c.nLayers());
        assertEquals(4, c.nHeads());
        assertEquals(2, c.nKvHeads());
        assertEquals(8, c.headDim());
        assertEquals(283, c.vocabSize());
        assertEquals(256, c.maxSeqLen());
        assertEquals(1e-5f, c.normEps());
        assertEquals(10000f, c.ropeTheta());
        assertEquals(ModelConfig.RopeStyle.HALVES, c.ropeStyle());
        assertEquals(new ModelConfig.RopeScaling(8f, 1f, 4f, 64), c.ropeScaling());
        assertFalse(c.qkvBias());
        assertFalse(c.tiedEmbeddings());
        assertEquals(280, c.bosId());
        // config.json's eos, then generation_config.json's extra one
        assertArrayEquals(new int[]{281, 282}, c.eosIds());
        assertNull(c.ropeFreqFactors());
    }

    @Test
    void qwen2Config() {
        ModelConfig c = HfConfig.read(QWEN2);
        assertEquals("qwen2", c.arch());
        assertEquals(1, c.nKvHeads());
        assertEquals(288, c.vocabSize());
        assertEquals(1e6f, c.ropeTheta());
        assertEquals(1e-6f, c.normEps());
        assertTrue(c.qkvBias());
        assertTrue(c.tiedEmbeddings());
        assertNull(c.ropeScaling());
        assertArrayEquals(new int[]{282}, c.eosIds());
    }

    @Test
    void llamaTensorsMatchNumpy() {
        try (Arena arena = Arena.ofConfined()) {
            LoadedWeights w = SafetensorsLoader.load(LLAMA, arena);
            Map<String, Tensor> byName = hfNames(w);
            assertEquals(2 + 2 * 9 + 1, byName.size());
            checkAll(LLAMA, byName);
            assertEquals(DType.F32, w.weights().layers()[1].wq().type());
            assertNull(w.weights().layers()[0].bq());
        }
    }

    @Test
    void qwen2MixedDtypesBiasesAndTiedHead() {
        try (Arena arena = Arena.ofConfined()) {
            LoadedWeights w = SafetensorsLoader.load(QWEN2, arena);
            Map<String, Tensor> byName = hfNames(w);
            checkAll(QWEN2, byName);
            LlamaWeights.Layer l = w.weights().layers()[1];
            assertEquals(DType.BF16, l.wq().type());
            assertEquals(DType.F32, l.attnNorm().type());
            assertEquals(DType.F32, l.bq().type());
            assertArrayEquals(new long[]{8}, l.bk().shape());
            assertSame(w.weights().tokenEmbedding(), w.weights().output());
        }
    }

    @Test
    void shardedDirectoryGivesTheSameTensors() {
        Path dir = tmp.resolve("sharded");
        copyDir(LLAMA, dir);
        LoadFixtures.delete(dir.resolve("model.safetensors"));
        List<SafetensorsWriter.Item> items = SafetensorsWriter.read(LLAMA.resolve("model.safetensors"));
        // three shards, tensors dealt round-robin so every shard holds pieces of several layers
        List<List<SafetensorsWriter.Item>> shards = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        StringBuilder map = new StringBuilder();
        for (int i = 0; i < items.size(); i++) {
            shards.get(i % 3).add(items.get(i));
            map.append(map.isEmpty() ? "" : ",").append('"').append(items.get(i).name()).append("\":\"")
                    .append(shardName(i % 3)).append('"');
        }
        for (int s = 0; s < 3; s++) SafetensorsWriter.write(dir.resolve(shardName(s)), shards.get(s));
        writeString(dir.resolve("model.safetensors.index.json"),
                "{\"metadata\":{\"total_size\":0},\"weight_map\":{" + map + "}}");
        try (Arena arena = Arena.ofConfined()) {
            LoadedWeights w = SafetensorsLoader.load(dir, arena);
            checkAll(LLAMA, hfNames(w));
        }

        // a tensor the index promises but its shard lacks
        List<SafetensorsWriter.Item> short0 = new ArrayList<>(shards.get(0));
        String dropped = short0.remove(1).name();
        SafetensorsWriter.write(dir.resolve(shardName(0)), short0);
        Path shard0 = dir.resolve(shardName(0));
        assertError(shard0, () -> load(dir), "missing tensor " + dropped);

        // a shard file that does not exist
        LoadFixtures.delete(shard0);
        assertError(shard0, () -> load(dir), "no such file");

        // shard names must stay inside the model directory
        writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"model.norm.weight\":\"../elsewhere.safetensors\"}}");
        assertError(dir.resolve("model.safetensors.index.json"), () -> load(dir), "not in the model directory");
    }

    private static String shardName(int s) {
        return "model-0000" + (s + 1) + "-of-00003.safetensors";
    }

    // ---- bad files: each error is one line that starts with the file and says what is wrong ----

    @Test
    void truncatedHeader() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path st = dir.resolve("model.safetensors");
        byte[] good = LoadFixtures.bytes(st);
        LoadFixtures.write(st, Arrays.copyOf(good, 100)); // cut inside the JSON header
        assertError(st, () -> load(dir), "truncated: header length");
        LoadFixtures.write(st, Arrays.copyOf(good, 5));
        assertError(st, () -> load(dir), "truncated", "too short");
    }

    @Test
    void corruptHeader() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path st = dir.resolve("model.safetensors");
        byte[] b = LoadFixtures.bytes(st);
        b[8] = 'x'; // the header no longer starts a JSON object
        LoadFixtures.write(st, b);
        assertError(st, () -> load(dir), "invalid JSON");

        byte[] c = LoadFixtures.bytes(LLAMA.resolve("model.safetensors"));
        LoadFixtures.le(c).putLong(0, 1L << 40); // absurd header length
        LoadFixtures.write(st, c);
        assertError(st, () -> load(dir), "corrupt safetensors header length");
    }

    @Test
    void offsetsOutOfBoundsOrOverlapping() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path st = dir.resolve("model.safetensors");
        List<SafetensorsWriter.Item> items = SafetensorsWriter.read(LLAMA.resolve("model.safetensors"));
        String h = SafetensorsWriter.header(items);
        long total = items.stream().mapToLong(i -> i.data().length).sum();
        SafetensorsWriter.Item last = items.get(items.size() - 1);
        String lastOffsets = "[" + (total - last.data().length) + "," + total + "]";
        // the last tensor pushed past the end of the data
        String outside = h.replace(lastOffsets, "[" + (total - last.data().length + 64) + "," + (total + 64) + "]");
        LoadFixtures.write(st, SafetensorsWriter.bytes(outside, items));
        assertError(st, () -> load(dir), "tensor " + last.name(), "out of bounds");

        // the last tensor moved onto the one before it
        String overlapping = h.replace(lastOffsets, "[" + (total - last.data().length - 64) + "," + (total - 64) + "]");
        LoadFixtures.write(st, SafetensorsWriter.bytes(overlapping, items));
        assertError(st, () -> load(dir), "overlap");

        // byte size that does not match dtype x shape
        SafetensorsWriter.Item first = items.get(0);
        List<SafetensorsWriter.Item> wrongSize = new ArrayList<>(items);
        wrongSize.set(0, first.withShape(first.shape()[0] - 1, first.shape()[1]));
        LoadFixtures.write(st, SafetensorsWriter.bytes(SafetensorsWriter.header(wrongSize), items));
        assertError(st, () -> load(dir), "tensor " + first.name() + " has " + first.data().length + " bytes of data");

        // a shape whose element count overflows
        String huge = h.replaceFirst("\"shape\":\\[283,32\\]", "\"shape\":[4294967296,4294967296,4294967296]");
        LoadFixtures.write(st, SafetensorsWriter.bytes(huge, items));
        assertError(st, () -> load(dir), "is too large");
    }

    @Test
    void shapeMismatch() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path cfg = dir.resolve("config.json");
        writeString(cfg, LoadFixtures.readString(cfg).replace("\"intermediate_size\": 64", "\"intermediate_size\": 48"));
        assertError(dir.resolve("model.safetensors"), () -> load(dir),
                "tensor model.layers.0.mlp.gate_proj.weight has shape [64, 32], expected [48, 32]");
    }

    @Test
    void missingTensor() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path st = dir.resolve("model.safetensors");
        List<SafetensorsWriter.Item> items = new ArrayList<>(SafetensorsWriter.read(st));
        items.removeIf(i -> i.name().equals("model.layers.1.self_attn.v_proj.weight"));
        SafetensorsWriter.write(st, items);
        assertError(st, () -> load(dir), "missing tensor model.layers.1.self_attn.v_proj.weight");
    }

    @Test
    void missingLmHeadWhenNotTied() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path st = dir.resolve("model.safetensors");
        List<SafetensorsWriter.Item> items = new ArrayList<>(SafetensorsWriter.read(st));
        items.removeIf(i -> i.name().equals("lm_head.weight"));
        SafetensorsWriter.write(st, items);
        assertError(st, () -> load(dir), "missing tensor lm_head.weight");
    }

    @Test
    void unsupportedDtype() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path st = dir.resolve("model.safetensors");
        List<SafetensorsWriter.Item> items = new ArrayList<>(SafetensorsWriter.read(st));
        items.replaceAll(i -> i.name().equals("model.norm.weight") ? i.withDtype("I32") : i);
        SafetensorsWriter.write(st, items);
        assertError(st, () -> load(dir), "tensor model.norm.weight has dtype I32, which is not supported");
        items.replaceAll(i -> i.name().equals("model.norm.weight") ? i.withDtype("Q9") : i);
        SafetensorsWriter.write(st, items);
        assertError(st, () -> load(dir), "tensor model.norm.weight has unknown dtype Q9");
    }

    @Test
    void unknownArchitecture() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        Path cfg = dir.resolve("config.json");
        String text = LoadFixtures.readString(cfg);
        writeString(cfg, text.replace("LlamaForCausalLM", "MistralForCausalLM"));
        assertError(cfg, () -> load(dir), "unsupported architecture MistralForCausalLM");
        writeString(cfg, text.replace("\"LlamaForCausalLM\"", "").replace("\"model_type\": \"llama\"", "\"model_type\": \"gemma\""));
        assertError(cfg, () -> load(dir), "unsupported model_type gemma");
        writeString(cfg, text.replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\""));
        assertError(cfg, () -> load(dir), "rope_scaling type \"yarn\" is not supported");
        writeString(cfg, text.replace("\"hidden_size\": 32,", ""));
        assertError(cfg, () -> load(dir), "missing \"hidden_size\"");
        writeString(cfg, text.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"));
        assertError(cfg, () -> load(dir), "not a multiple of num_key_value_heads 3");
    }

    @Test
    void notAModelDirectory() {
        Path dir = copyDir(LLAMA, tmp.resolve("m"));
        LoadFixtures.delete(dir.resolve("model.safetensors"));
        assertError(dir, () -> load(dir), "no model.safetensors or model.safetensors.index.json");
        LoadFixtures.delete(dir.resolve("config.json"));
        assertError(dir, () -> load(dir), "no config.json");
    }

    @Test
    void tensorOfAnUnknownNameIsNull() {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(LLAMA.resolve("model.safetensors"), arena);
            assertNull(f.tensor("no.such.tensor"));
            assertNotNull(f.tensor("model.norm.weight"));
            assertEquals("pt", f.metadata().get("format"));
        }
        assertThrows(SacException.class, () -> load(tmp.resolve("absent")));
    }

    private static void load(Path dir) {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsLoader.load(dir, arena);
        }
    }

    /** The loaded weights under their Hugging Face names. */
    static Map<String, Tensor> hfNames(LoadedWeights w) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        LlamaWeights lw = w.weights();
        m.put("model.embed_tokens.weight", lw.tokenEmbedding());
        for (int i = 0; i < lw.layers().length; i++) {
            LlamaWeights.Layer l = lw.layers()[i];
            String p = "model.layers." + i + ".";
            m.put(p + "input_layernorm.weight", l.attnNorm());
            m.put(p + "self_attn.q_proj.weight", l.wq());
            m.put(p + "self_attn.k_proj.weight", l.wk());
            m.put(p + "self_attn.v_proj.weight", l.wv());
            m.put(p + "self_attn.o_proj.weight", l.wo());
            if (l.bq() != null) {
                m.put(p + "self_attn.q_proj.bias", l.bq());
                m.put(p + "self_attn.k_proj.bias", l.bk());
                m.put(p + "self_attn.v_proj.bias", l.bv());
            }
            m.put(p + "post_attention_layernorm.weight", l.ffnNorm());
            m.put(p + "mlp.gate_proj.weight", l.wGate());
            m.put(p + "mlp.up_proj.weight", l.wUp());
            m.put(p + "mlp.down_proj.weight", l.wDown());
        }
        m.put("model.norm.weight", lw.finalNorm());
        if (!w.config().tiedEmbeddings()) m.put("lm_head.weight", lw.output());
        return m;
    }

    /** Every tensor of expected.json (numpy's view of the file) against the loaded one. */
    @SuppressWarnings("unchecked")
    private static void checkAll(Path dir, Map<String, Tensor> byName) {
        Map<String, Object> exp = LoadFixtures.json(dir.resolve("expected.json"));
        assertEquals(exp.keySet(), byName.keySet());
        for (var e : exp.entrySet()) {
            Map<String, Object> x = (Map<String, Object>) e.getValue();
            Tensor t = byName.get(e.getKey());
            String n = e.getKey();
            assertEquals(x.get("dtype"), t.type().name(), n);
            assertArrayEquals(LoadFixtures.longs(x.get("shape")), t.shape(), n);
            float[] all = t.toFloats();
            float[] first = floats(x.get("first"));
            assertArrayEquals(first, Arrays.copyOf(all, first.length), n);
            assertEquals(((Number) x.get("last")).floatValue(), all[all.length - 1], n);
            if (x.get("row1") != null) {
                float[] row = new float[t.cols()];
                t.readRow(1, row, 0);
                float[] want = floats(x.get("row1"));
                assertArrayEquals(want, Arrays.copyOf(row, want.length), n);
            }
            assertEquals(((Number) x.get("sum")).doubleValue(), LoadFixtures.sum(t), 1e-9 * all.length, n);
        }
    }
}
