package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.load.Json;
import io.sac4j.load.Model;
import io.sac4j.load.ModelConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The adapter reader against fixtures written by scripts/reference/sac_make_adapter_fixtures.py with real
 * torch.save (expected values and fingerprint in expected.json come from the same script), and against hostile and
 * malformed files.
 */
class SacAdapterTest {
    static final Path DIR = Path.of("src", "test", "resources", "fixtures", "adapter");
    static final String[] GOOD = {"tiny.pt", "tiny.safetensors", "tiny_state_dict.pt", "tiny_f16_views.pt"};

    static Map<String, Object> expected;
    static ModelConfig base;

    @BeforeAll
    static void setUp() throws IOException {
        expected = Json.parseObject(Files.readString(DIR.resolve("expected.json")), "expected.json");
        base = bundledConfig();
        assertEquals(num("hidden"), base.dim());
        assertEquals(num("layers"), base.nLayers());
        assertEquals(num("heads"), base.nHeads());
        assertEquals(num("kv_heads"), base.nKvHeads());
        assertEquals(num("head_dim"), base.headDim());
    }

    /** The bundled aidreams260K's config when it loads; otherwise the same sizes by hand. */
    static ModelConfig bundledConfig() {
        try (Model m = Model.bundled()) {
            return m.config();
        } catch (RuntimeException | LinkageError e) {
            return config(64, 4, 4, 4, 16);
        }
    }

    static ModelConfig config(int dim, int layers, int heads, int kvHeads, int headDim) {
        return new ModelConfig("llama", dim, 172, layers, heads, kvHeads, headDim, 512, 128, 1e-5f, 10000f,
                ModelConfig.RopeStyle.ADJACENT, null, false, true, 1, new int[]{2});
    }

    static int num(String key) {
        return ((Number) expected.get(key)).intValue();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> tensorExpect(String name) {
        return (Map<String, Object>) ((Map<String, Object>) expected.get("tensors")).get(name);
    }

    static SacException refused(Path file, ModelConfig c) {
        SacException e = assertThrows(SacException.class, () -> SacAdapter.load(file, c));
        assertTrue(e.getMessage().startsWith(file.toString() + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    static void assertRefused(Path file, ModelConfig c, String... parts) {
        String msg = refused(file, c).getMessage();
        for (String p : parts) assertTrue(msg.contains(p), "message lacks '" + p + "': " + msg);
    }

    // ---- good files --------------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"tiny.pt", "tiny.safetensors", "tiny_state_dict.pt", "tiny_f16_views.pt"})
    void loadsTheReferenceValues(String name) {
        SacAdapter a = SacAdapter.load(DIR.resolve(name), base);
        assertEquals(num("rank"), a.rank());
        assertEquals(num("mem_size"), a.memSize());
        assertEquals(base.nLayers(), a.layers());
        assertEquals(DIR.resolve(name).toString(), a.source());
        assertEquals(expected.get("fingerprint"), a.fingerprint());
        check("role_tokens", a.roleTokens());
        check("special_tokens", a.specialTokens());
        for (int l = 0; l < base.nLayers(); l++) {
            String p = "model.model.layers." + l + ".self_attn.";
            check(p + "q_proj.lora_A", a.qA(l));
            check(p + "q_proj.lora_B", a.qB(l));
            check(p + "v_proj.lora_A", a.vA(l));
            check(p + "v_proj.lora_B", a.vB(l));
            assertEquals(base.dim() * a.rank(), a.qA(l).length);
            assertEquals(a.rank() * base.qDim(), a.qB(l).length);
            assertEquals(base.dim() * a.rank(), a.vA(l).length);
            assertEquals(a.rank() * base.kvDim(), a.vB(l).length);
        }
    }

    @SuppressWarnings("unchecked")
    private static void check(String name, float[] v) {
        Map<String, Object> e = tensorExpect(name);
        List<Object> shape = (List<Object>) e.get("shape");
        assertEquals(((Number) shape.get(0)).intValue() * ((Number) shape.get(1)).intValue(), v.length, name);
        double sum = 0, abs = 0;
        for (float x : v) {
            sum += x;
            abs += Math.abs(x);
        }
        // the values are exact (bf16-representable); only the summation order differs from numpy's
        assertEquals(((Number) e.get("sum")).doubleValue(), sum, 1e-9, name + " sum");
        assertEquals(((Number) e.get("abs_sum")).doubleValue(), abs, 1e-9, name + " abs sum");
        List<Object> first = (List<Object>) e.get("first");
        for (int i = 0; i < first.size(); i++)
            assertEquals((float) ((Number) first.get(i)).doubleValue(), v[i], 0f, name + "[" + i + "]");
        assertEquals((float) ((Number) e.get("last")).doubleValue(), v[v.length - 1], 0f, name + " last");
    }

    @Test
    void everyFormatGivesTheSameArrays() {
        SacAdapter ref = SacAdapter.load(DIR.resolve("tiny.pt"), base);
        for (String name : GOOD) {
            SacAdapter a = SacAdapter.load(DIR.resolve(name), base);
            assertArrayEquals(ref.roleTokens(), a.roleTokens(), name);
            assertArrayEquals(ref.specialTokens(), a.specialTokens(), name);
            for (int l = 0; l < base.nLayers(); l++) {
                assertArrayEquals(ref.qA(l), a.qA(l), name);
                assertArrayEquals(ref.qB(l), a.qB(l), name);
                assertArrayEquals(ref.vA(l), a.vA(l), name);
                assertArrayEquals(ref.vB(l), a.vB(l), name);
            }
        }
    }

    @Test
    void inMemoryAdapterHasTheSameFingerprint() {
        SacAdapter a = SacAdapter.load(DIR.resolve("tiny.safetensors"), base);
        int n = base.nLayers();
        float[][] qA = new float[n][], qB = new float[n][], vA = new float[n][], vB = new float[n][];
        for (int l = 0; l < n; l++) {
            qA[l] = a.qA(l).clone();
            qB[l] = a.qB(l).clone();
            vA[l] = a.vA(l).clone();
            vB[l] = a.vB(l).clone();
        }
        SacAdapter b = SacAdapter.of("memory", base, a.memSize(), a.rank(), a.roleTokens().clone(),
                a.specialTokens().clone(), qA, qB, vA, vB);
        assertEquals(a.fingerprint(), b.fingerprint());
        vB[3][5] += 1e-3f;
        SacAdapter c = SacAdapter.of("memory", base, a.memSize(), a.rank(), a.roleTokens(), a.specialTokens(), qA, qB, vA, vB);
        assertFalse(a.fingerprint().equals(c.fingerprint()), "one changed value must change the fingerprint");
    }

    // ---- shapes against the base model -------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"tiny.pt", "tiny.safetensors"})
    void kvHeadsMismatchNamesKeyAndWhy(String name) {
        assertRefused(DIR.resolve(name), config(64, 4, 4, 2, 16),
                ": model.model.layers.0.self_attn.v_proj.lora_B has shape [4, 64], expected [4, 32] (kv_heads 2 x head_dim 16)");
    }

    @Test
    void headsMismatch() {
        assertRefused(DIR.resolve("tiny.pt"), config(64, 4, 2, 2, 16),
                ": model.model.layers.0.self_attn.q_proj.lora_B has shape [4, 64], expected [4, 32] (heads 2 x head_dim 16)");
    }

    @Test
    void hiddenMismatch() {
        assertRefused(DIR.resolve("tiny.pt"), config(32, 4, 4, 4, 16),
                ": role_tokens has shape [10, 64], expected [mem_size, 32] (hidden 32)");
    }

    @Test
    void extraLayers() {
        assertRefused(DIR.resolve("tiny.pt"), config(64, 3, 4, 4, 16),
                ": has layer 3 (model.model.layers.3.self_attn.q_proj.lora_A), but the base model has 3 layers (0-2)");
    }

    @Test
    void missingLayersUseTheFilesPrefix() {
        assertRefused(DIR.resolve("tiny.pt"), config(64, 5, 4, 4, 16),
                ": missing tensor model.model.layers.4.self_attn.q_proj.lora_A");
        assertRefused(DIR.resolve("tiny_f16_views.pt"), config(64, 5, 4, 4, 16),
                ": missing tensor model.layers.4.self_attn.q_proj.lora_A");
    }

    // ---- hand-edited safetensors (same values, one thing changed) ---------------------------------------------

    /** The fixture's tensors as float32 [name -> (shape, values)], to write altered safetensors files from. */
    static LinkedHashMap<String, Object[]> fixtureTensors() {
        SacAdapter a = SacAdapter.load(DIR.resolve("tiny.safetensors"), base);
        LinkedHashMap<String, Object[]> t = new LinkedHashMap<>();
        int d = base.dim(), r = a.rank();
        t.put("role_tokens", new Object[]{new long[]{a.memSize(), d}, a.roleTokens()});
        t.put("special_tokens", new Object[]{new long[]{2, d}, a.specialTokens()});
        for (int l = 0; l < base.nLayers(); l++) {
            String p = "model.model.layers." + l + ".self_attn.";
            t.put(p + "q_proj.lora_A", new Object[]{new long[]{d, r}, a.qA(l)});
            t.put(p + "q_proj.lora_B", new Object[]{new long[]{r, base.qDim()}, a.qB(l)});
            t.put(p + "v_proj.lora_A", new Object[]{new long[]{d, r}, a.vA(l)});
            t.put(p + "v_proj.lora_B", new Object[]{new long[]{r, base.kvDim()}, a.vB(l)});
        }
        return t;
    }

    /** A float32 safetensors file (or I32 where dtype says so) of the given tensors. */
    static Path writeSafetensors(Path file, Map<String, Object[]> tensors, String dtype) throws IOException {
        StringBuilder h = new StringBuilder("{");
        long off = 0;
        int count = 0;
        for (Map.Entry<String, Object[]> e : tensors.entrySet()) {
            long[] shape = (long[]) e.getValue()[0];
            long n = ((float[]) e.getValue()[1]).length * 4L;
            if (count++ > 0) h.append(',');
            h.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":")
                    .append(Arrays.toString(shape).replace(" ", "")).append(",\"data_offsets\":[").append(off).append(',')
                    .append(off + n).append("]}");
            off += n;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate((int) (8 + header.length + off)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        for (Object[] v : tensors.values()) for (float x : (float[]) v[1]) b.putFloat(x);
        Files.write(file, b.array());
        return file;
    }

    static float[] randoms(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) Math.sin(i * 0.37 + n);
        return v;
    }

    @Test
    void prefixVariantLoadsWithTheSameFingerprint(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = new LinkedHashMap<>();
        fixtureTensors().forEach((k, v) -> t.put(k.replace("model.model.layers.", "base_model.model.model.layers."), v));
        SacAdapter a = SacAdapter.load(writeSafetensors(tmp.resolve("peft.safetensors"), t, "F32"), base);
        assertEquals(expected.get("fingerprint"), a.fingerprint());
    }

    @Test
    void ambiguousPrefixes(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = fixtureTensors();
        Object[] extra = t.get("model.model.layers.0.self_attn.q_proj.lora_A");
        t.put("model.layers.0.self_attn.q_proj.lora_A", extra);
        assertRefused(writeSafetensors(tmp.resolve("a.safetensors"), t, "F32"), base,
                ": ambiguous tensor names: both model.model.layers.0.self_attn.q_proj.lora_A and model.layers.0.self_attn.q_proj.lora_A");
    }

    @Test
    void missingKey(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = fixtureTensors();
        t.remove("special_tokens");
        assertRefused(writeSafetensors(tmp.resolve("a.safetensors"), t, "F32"), base, ": missing tensor special_tokens");
        t = fixtureTensors();
        t.remove("model.model.layers.2.self_attn.v_proj.lora_B");
        assertRefused(writeSafetensors(tmp.resolve("b.safetensors"), t, "F32"), base,
                ": missing tensor model.model.layers.2.self_attn.v_proj.lora_B");
    }

    @Test
    void unexpectedKey(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = fixtureTensors();
        t.put("model.model.layers.0.self_attn.k_proj.lora_A", t.get("model.model.layers.0.self_attn.q_proj.lora_A"));
        assertRefused(writeSafetensors(tmp.resolve("a.safetensors"), t, "F32"), base,
                ": unexpected tensor model.model.layers.0.self_attn.k_proj.lora_A");
    }

    @Test
    void rankMismatchBetweenAAndB(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = fixtureTensors();
        t.put("model.model.layers.2.self_attn.v_proj.lora_B", new Object[]{new long[]{3, 64}, randoms(3 * 64)});
        assertRefused(writeSafetensors(tmp.resolve("a.safetensors"), t, "F32"), base,
                ": rank mismatch: model.model.layers.2.self_attn.v_proj.lora_B has shape [3, 64] (rank 3), but its lora_A "
                        + "model.model.layers.2.self_attn.v_proj.lora_A has rank 4");
    }

    @Test
    void rankMismatchBetweenLayers(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = fixtureTensors();
        t.put("model.model.layers.1.self_attn.q_proj.lora_A", new Object[]{new long[]{64, 3}, randoms(64 * 3)});
        t.put("model.model.layers.1.self_attn.q_proj.lora_B", new Object[]{new long[]{3, 64}, randoms(3 * 64)});
        assertRefused(writeSafetensors(tmp.resolve("a.safetensors"), t, "F32"), base,
                ": rank mismatch: model.model.layers.1.self_attn.q_proj.lora_A has shape [64, 3] (rank 3), but "
                        + "model.model.layers.0.self_attn.q_proj.lora_A has rank 4");
    }

    @Test
    void badMemSizeAndDtype(@TempDir Path tmp) throws IOException {
        LinkedHashMap<String, Object[]> t = fixtureTensors();
        t.put("role_tokens", new Object[]{new long[]{600, 64}, randoms(600 * 64)});
        assertRefused(writeSafetensors(tmp.resolve("a.safetensors"), t, "F32"), base,
                ": role_tokens has shape [600, 64]: mem_size 600 is not between 1 and 510");
        assertRefused(writeSafetensors(tmp.resolve("b.safetensors"), fixtureTensors(), "I32"), base,
                ": role_tokens is not a float tensor (expected F32, F16 or BF16)");
    }

    // ---- hostile pickles ---------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({
            "os_system, refused global os.system",
            "posix_system, refused global posix.system",
            "builtins_eval, refused global builtins.eval",
            "subprocess_popen, refused global subprocess.Popen",
            "stack_global, refused global builtins.eval",
            "torch_save_reduce_chain, refused global __builtin__.exec",
            "load_from_bytes, refused global torch.storage._load_from_bytes",
            "inst_opcode, opcode 0x69 (INST) is not allowed",
            "reduce_storage, REDUCE on torch.FloatStorage is not allowed",
    })
    @SuppressWarnings("unchecked")
    void evilPicklesAreRefusedBeforeAnythingRuns(String name, String why) throws IOException {
        Path file = DIR.resolve("evil").resolve(name + ".pt");
        Map<String, Object> markers = (Map<String, Object>) expected.get("evil_markers");
        Path marker = markers.containsKey(name) ? Path.of((String) markers.get(name)) : null;
        if (marker != null) Files.deleteIfExists(marker);
        assertRefused(file, base, why);
        if (marker != null) assertFalse(Files.exists(marker), "payload ran: " + marker + " exists");
    }

    @Test
    void everyEvilFixtureIsTested() throws IOException {
        try (var files = Files.list(DIR.resolve("evil"))) {
            assertEquals(9, files.count(), "a new evil fixture needs a row in evilPicklesAreRefusedBeforeAnythingRuns");
        }
    }

    // ---- malformed archives and absurd sizes (each would OOM or worse if believed) ----------------------------

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "zip_bomb     | compressed storage archive/data/0 declares 8388608 bytes, but its tensors need only 1280 (refusing a possible zip bomb)",
            "huge_shape   | archive entry archive/data/0 has 1280 bytes, but the pickle declares 2199023255552 bytes for storage 0",
            "huge_storage | archive entry archive/data/0 has 1280 bytes, but the pickle declares 2199023255552 bytes for storage 0",
            "huge_string  | needs 4294967280 bytes at offset 9 but data.pkl has only 11 left",
            "non_contiguous | tensor with size [10, 64] and stride [1, 10] is not contiguous",
            "build_tensor | BUILD on a tensor is not allowed",
            "legacy       | legacy (pre-1.6, not zip) torch.save file is not supported",
    })
    void malformedArchivesAreRefused(String name, String why) {
        assertRefused(DIR.resolve("bad").resolve(name + ".pt"), base, why);
    }

    /** A torch.save-layout zip around a hand-made pickle (and one 16-byte storage). */
    static Path archive(Path file, byte[] pickle) throws IOException {
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(file))) {
            z.putNextEntry(new ZipEntry("archive/data.pkl"));
            z.write(pickle);
            z.putNextEntry(new ZipEntry("archive/data/0"));
            z.write(new byte[16]);
            z.putNextEntry(new ZipEntry("archive/version"));
            z.write("3\n".getBytes(StandardCharsets.US_ASCII));
        }
        return file;
    }

    static byte[] pickle(String hex, byte[] middle, String tail) {
        byte[] a = HexFormat.of().parseHex(hex), c = HexFormat.of().parseHex(tail);
        byte[] out = Arrays.copyOf(a, a.length + middle.length + c.length);
        System.arraycopy(middle, 0, out, a.length, middle.length);
        System.arraycopy(c, 0, out, a.length + middle.length, c.length);
        return out;
    }

    @Test
    void pickleLimits(@TempDir Path tmp) throws IOException {
        // 1.1 million EMPTY_TUPLEs: each is one object; a hostile pickle cannot build unbounded garbage
        byte[] tuples = new byte[1_100_000];
        Arrays.fill(tuples, (byte) ')');
        assertRefused(archive(tmp.resolve("tuples.pt"), pickle("8002", tuples, "2e")), base,
                "builds more than 1000000 objects");
        // the same with MEMOIZE (protocol 4): memo entries count too
        byte[] memo = new byte[1_100_000];
        Arrays.fill(memo, (byte) 0x94);
        assertRefused(archive(tmp.resolve("memo.pt"), pickle("80047d", memo, "2e")), base, "builds more than 1000000 objects");
        // no STOP
        assertRefused(archive(tmp.resolve("nostop.pt"), pickle("80027d", new byte[0], "")), base,
                "ends at byte 3 without a STOP opcode (truncated)");
        // a top level that is not a dict
        assertRefused(archive(tmp.resolve("list.pt"), pickle("80025d", new byte[0], "2e")), base,
                "the pickle holds a list, expected a dict of tensors");
        // a dict entry that is not a tensor
        assertRefused(archive(tmp.resolve("int.pt"), pickle("80027d58010000006b4b0773", new byte[0], "2e")), base,
                "state dict entry k is integer 7, not a tensor");
        // an opcode nobody uses in a state dict, and one that does not exist
        assertRefused(archive(tmp.resolve("float.pt"), pickle("800247", new byte[8], "2e")), base,
                "opcode 0x47 (BINFLOAT) is not allowed");
        assertRefused(archive(tmp.resolve("ff.pt"), pickle("8002ff", new byte[0], "2e")), base,
                "opcode 0xff (unknown) is not allowed");
        // a memo slot that was never written
        assertRefused(archive(tmp.resolve("get.pt"), pickle("80026a00000010", new byte[0], "2e")), base,
                "memo slot 268435456 was never set");
        // a GLOBAL whose name line never ends
        byte[] longName = new byte[10_000];
        Arrays.fill(longName, (byte) 'a');
        assertRefused(archive(tmp.resolve("global.pt"), pickle("800263", longName, "")), base,
                "GLOBAL name is not a plain identifier");
    }

    /**
     * Mutated copies of tiny.pt's pickle (the zip around it rebuilt, so the pickle reader sees the damage): each
     * either loads (a harmless change) or fails with a one-line SacException, never with anything else.
     */
    @Test
    void mutatedPicklesFailCleanly(@TempDir Path tmp) throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        try (ZipFile z = new ZipFile(DIR.resolve("tiny.pt").toFile())) {
            for (ZipEntry e : java.util.Collections.list(z.entries()))
                entries.put(e.getName(), z.getInputStream(e).readAllBytes());
        }
        byte[] pkl = entries.get("tiny/data.pkl");
        java.util.Random r = new java.util.Random(42);
        int loaded = 0;
        for (int i = 0; i < 150; i++) {
            byte[] m = pkl.clone();
            if (i % 10 == 0) m = Arrays.copyOf(m, r.nextInt(m.length));
            else for (int j = 0, n = 1 + r.nextInt(3); j < n; j++) m[r.nextInt(m.length)] = (byte) r.nextInt(256);
            Path f = tmp.resolve("m" + i + ".pt");
            try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(f))) {
                for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                    z.putNextEntry(new ZipEntry(e.getKey()));
                    z.write(e.getKey().equals("tiny/data.pkl") ? m : e.getValue());
                }
            }
            try {
                SacAdapter.load(f, base);
                loaded++;
            } catch (SacException e) {
                assertTrue(e.getMessage().startsWith(f + ": ") && !e.getMessage().contains("\n"), e.getMessage());
            }
        }
        assertTrue(loaded < 150, "the mutations must break something");
    }

    @Test
    void truncatedOrCorruptArchive(@TempDir Path tmp) throws IOException {
        byte[] good = Files.readAllBytes(DIR.resolve("tiny.pt"));
        for (int cut : new int[]{3, 100, good.length / 2, good.length - 10}) {
            Path f = tmp.resolve("cut" + cut + ".pt");
            Files.write(f, Arrays.copyOf(good, cut));
            refused(f, base);
        }
        // a flipped byte inside a stored storage: the zip CRC catches it
        Path f = tmp.resolve("flipped.pt");
        byte[] bad = good.clone();
        int at = indexOf(bad, "tiny/data/0".getBytes(StandardCharsets.US_ASCII)) + 200;
        bad[at] ^= 0x40;
        Files.write(f, bad);
        assertRefused(f, base, "fails its CRC check");
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }

    @Test
    void notAnAdapter(@TempDir Path tmp) throws IOException {
        Path f = Files.writeString(tmp.resolve("notes.txt"), "hello, not an adapter");
        assertRefused(f, base, "not a SAC adapter");
        assertRefused(tmp.resolve("absent.pt"), base, "no such file");
        assertRefused(tmp, base, "is a directory");
    }
}
