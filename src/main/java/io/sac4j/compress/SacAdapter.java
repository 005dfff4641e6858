package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.load.DType;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.SafetensorsFile;
import io.sac4j.load.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The trained part of a SAC compressor: the encoder's LoRA on q_proj and v_proj of every layer, the role tokens added
 * to anchor embeddings and the two special tokens ([AE], [LM]).
 *
 * <p>Reads the official checkpoint, {@code torch.save} of a dict of bf16 tensors (a zip archive; the pickle inside is
 * read by {@link PickleTensorReader}, which executes nothing and refuses everything but plain tensors), and the same
 * tensors in a {@code .safetensors} file; f32, f16 and bf16 are accepted. Keys: {@code role_tokens [mem_size, hidden]},
 * {@code special_tokens [2, hidden]}, {@code model.model.layers.{i}.self_attn.{q_proj,v_proj}.lora_A [hidden, rank]}
 * and {@code .lora_B [rank, out]} (q: heads x head_dim, v: kv_heads x head_dim). The layer prefix may also be
 * {@code base_model.model.model.}, {@code model.} or none, as long as one prefix is used throughout. Every shape is
 * checked against the base model before any tensor data is read, and every mismatch names the key and why. NaN
 * and infinite values are refused.
 *
 * <p>Values are held as float32 arrays; the accessors return those arrays themselves (no copy): do not modify them.
 */
public final class SacAdapter {
    /** Anchors in one chunk can never exceed the chunk's 510 tokens. */
    static final int MAX_MEM_SIZE = 510;
    private static final Pattern LAYER_KEY =
            Pattern.compile("(.*?)layers\\.(\\d{1,6})\\.self_attn\\.(q_proj|v_proj)\\.lora_(A|B)");
    private static final Pattern TOKEN_KEY = Pattern.compile("(.*?)(role_tokens|special_tokens)");
    private static final Pattern LAYER_PREFIX = Pattern.compile("(base_model\\.)?(model\\.){0,3}");
    private static final Pattern TOKEN_PREFIX = Pattern.compile("(base_model\\.)?(model\\.)?");
    private static final String CANONICAL_LAYER_PREFIX = "model.model.";

    private final String source;
    private final int memSize, rank, dim, layers;
    private final float[] roleTokens, specialTokens;
    private final float[][] qA, qB, vA, vB;
    private final String fingerprint;

    private SacAdapter(String source, int memSize, int rank, int dim, float[] roleTokens, float[] specialTokens,
                       float[][] qA, float[][] qB, float[][] vA, float[][] vB) {
        this.source = source;
        this.memSize = memSize;
        this.rank = rank;
        this.dim = dim;
        this.layers = qA.length;
        this.roleTokens = roleTokens;
        this.specialTokens = specialTokens;
        this.qA = qA;
        this.qB = qB;
        this.vA = vA;
        this.vB = vB;
        this.fingerprint = computeFingerprint();
    }

    /**
     * Loads an adapter for the base model {@code base}: a {@code torch.save} zip archive (any extension) or a
     * {@code .safetensors} file.
     *
     * @throws SacException (one line naming the file) when the file is unreadable, malicious, or does not fit
     */
    public static SacAdapter load(Path file, ModelConfig base) {
        String src = file.toString();
        byte[] head = head(file);
        if (head.length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return loadTorch(file, base);
        if (head.length >= 1 && (head[0] & 0xff) == 0x80)
            throw new SacException(src, "a legacy (pre-1.6, not zip) torch.save file is not supported; re-save it with a current torch.save");
        if (src.endsWith(".safetensors") || (head.length >= 9 && head[8] == '{')) return loadSafetensors(file, base);
        throw new SacException(src, "not a SAC adapter: neither a torch.save zip archive nor a .safetensors file");
    }

    /**
     * An adapter from arrays already in memory (tests, converters). Sizes follow the accessors: qA[layer] is
     * [dim*rank], qB[layer] [rank*qDim], vA [dim*rank], vB [rank*kvDim]; the arrays are kept, not copied.
     */
    public static SacAdapter of(String source, ModelConfig base, int memSize, int rank, float[] roleTokens,
                                float[] specialTokens, float[][] qA, float[][] qB, float[][] vA, float[][] vB) {
        int d = base.dim(), n = base.nLayers();
        if (memSize < 1 || memSize > MAX_MEM_SIZE || rank < 1 || rank > d)
            throw new IllegalArgumentException("mem size " + memSize + " or rank " + rank + " out of range");
        if (roleTokens.length != memSize * d || specialTokens.length != 2 * d)
            throw new IllegalArgumentException("role/special token arrays do not match mem size " + memSize + " x dim " + d);
        if (qA.length != n || qB.length != n || vA.length != n || vB.length != n)
            throw new IllegalArgumentException("LoRA arrays for a different number of layers than " + n);
        for (int l = 0; l < n; l++)
            if (qA[l].length != d * rank || vA[l].length != d * rank || qB[l].length != rank * base.qDim()
                    || vB[l].length != rank * base.kvDim())
                throw new IllegalArgumentException("LoRA arrays of layer " + l + " do not match the model and rank " + rank);
        return new SacAdapter(source, memSize, rank, d, roleTokens, specialTokens, qA, qB, vA, vB);
    }

    /** role_tokens, [memSize * dim] row-major: row m is added to the embedding of the m-th anchor of a chunk. */
    public float[] roleTokens() {
        return roleTokens;
    }

    /** special_tokens, [2 * dim]: row 0 is [AE] (unused by SAC), row 1 the [LM] vector that starts the answer. */
    public float[] specialTokens() {
        return specialTokens;
    }

    public int rank() {
        return rank;
    }

    /** Rows of role_tokens: the most anchors a chunk can have (102 at 5x, 34 at 15x, 10 at 51x). */
    public int memSize() {
        return memSize;
    }

    public int layers() {
        return layers;
    }

    /** q_proj lora_A of {@code layer}, [dim * rank] row-major (input x rank). */
    public float[] qA(int layer) {
        return qA[Objects.checkIndex(layer, layers)];
    }

    /** q_proj lora_B of {@code layer}, [rank * heads*headDim] row-major. */
    public float[] qB(int layer) {
        return qB[Objects.checkIndex(layer, layers)];
    }

    /** v_proj lora_A of {@code layer}, [dim * rank] row-major. */
    public float[] vA(int layer) {
        return vA[Objects.checkIndex(layer, layers)];
    }

    /** v_proj lora_B of {@code layer}, [rank * kvHeads*headDim] row-major. */
    public float[] vB(int layer) {
        return vB[Objects.checkIndex(layer, layers)];
    }

    /**
     * SHA-256 (hex) of "sac4j-adapter-v1\n", then for every tensor in canonical order (role_tokens, special_tokens,
     * then per layer q_proj.lora_A, q_proj.lora_B, v_proj.lora_A, v_proj.lora_B) the line
     * "{@code model.model.layers.<i>.self_attn.<proj>.lora_<X> <rows>x<cols>}\n" and its values as little-endian
     * float32. It hashes the values used, not the file's bytes: a .pt and a .safetensors of the same tensors (or a
     * different key prefix) have the same fingerprint.
     */
    public String fingerprint() {
        return fingerprint;
    }

    /** The file this adapter was read from. */
    public String source() {
        return source;
    }

    @Override
    public String toString() {
        return "SAC adapter " + source + " (mem size " + memSize + ", rank " + rank + ", " + layers + " layers)";
    }

    // ---- formats -----------------------------------------------------------------------------------------------

    /** A tensor of the file, described before any of its data is read. */
    private interface Loader {
        float[] load();
    }

    private record Raw(String name, DType type, long[] shape, Loader loader) {
    }

    private static byte[] head(Path file) {
        if (Files.isDirectory(file)) throw new SacException(file, "is a directory, expected an adapter file");
        // a FIFO (a downloaded tar archive can hold one) blocks forever, a device such as /dev/zero never ends
        if (Files.exists(file) && !Files.isRegularFile(file) && !Files.isDirectory(file))
            throw new SacException(file, "is not a regular file (a FIFO or a device?)");
        try (InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(9);
        } catch (NoSuchFileException e) {
            throw new SacException(file, "no such file");
        } catch (IOException e) {
            throw new SacException(file.toString(), "cannot read: " + e.getMessage(), e);
        }
    }

    private static SacAdapter loadTorch(Path file, ModelConfig base) {
        String src = file.toString();
        try (ZipTorchArchive zip = ZipTorchArchive.open(file)) {
            LinkedHashMap<String, PickleTensorReader.TensorRef> refs = PickleTensorReader.read(src, zip.pickle());
            ByteOrder order = zip.byteOrder();
            // bytes each storage's tensors reach; a storage is read once, up to there. Its entry is checked now,
            // before any shape check or read, so that a lying size is reported as such and never allocated.
            Map<String, Long> needed = new HashMap<>();
            Map<String, Long> declared = new HashMap<>();
            for (PickleTensorReader.TensorRef t : refs.values()) {
                PickleTensorReader.Storage s = t.storage();
                int esize = s.type().blockBytes;
                try {
                    needed.merge(s.key(), Math.multiplyExact(t.offset() + t.elements(), (long) esize), Math::max);
                    declared.put(s.key(), Math.multiplyExact(s.numel(), (long) esize));
                } catch (ArithmeticException ex) {
                    throw new SacException(src, "storage " + s.key() + " declares " + s.numel() + " elements, too many to address");
                }
            }
            for (String key : needed.keySet()) zip.checkStorage(key, declared.get(key), needed.get(key));
            Map<String, byte[]> read = new HashMap<>();
            Map<String, Raw> raws = new LinkedHashMap<>();
            for (Map.Entry<String, PickleTensorReader.TensorRef> e : refs.entrySet()) {
                PickleTensorReader.TensorRef t = e.getValue();
                PickleTensorReader.Storage s = t.storage();
                Loader loader = () -> {
                    byte[] bytes = read.computeIfAbsent(s.key(), k -> zip.storage(k, declared.get(k), needed.get(k)));
                    int esize = s.type().blockBytes;
                    return floats(ByteBuffer.wrap(bytes, (int) (t.offset() * esize), (int) (t.elements() * esize))
                            .slice().order(order), s.type(), (int) t.elements());
                };
                raws.put(e.getKey(), new Raw(e.getKey(), s.type(), t.shape(), loader));
            }
            return build(src, base, raws);
        }
    }

    private static SacAdapter loadSafetensors(Path file, ModelConfig base) {
        String src = file.toString();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.open(file, arena);
            Map<String, Raw> raws = new LinkedHashMap<>();
            for (String name : st.names()) {
                SafetensorsFile.Entry e = st.entry(name);
                DType type = switch (e.dtype()) {
                    case "F32" -> DType.F32;
                    case "F16" -> DType.F16;
                    case "BF16" -> DType.BF16;
                    default -> null;
                };
                raws.put(name, new Raw(name, type, e.shape(), () -> st.tensor(name).toFloats()));
            }
            return build(src, base, raws);
        }
    }

    private static float[] floats(ByteBuffer bb, DType type, int n) {
        float[] out = new float[n];
        switch (type) {
            case F32 -> bb.asFloatBuffer().get(out);
            case BF16 -> {
                for (int i = 0; i < n; i++) out[i] = Tensor.bf16(bb.getShort(2 * i));
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(bb.getShort(2 * i));
            }
            default -> throw new IllegalStateException("not a float type: " + type);
        }
        return out;
    }

    // ---- names and shapes --------------------------------------------------------------------------------------

    /** Checks names and shapes against the model (no data read yet), then reads the values. */
    private static SacAdapter build(String src, ModelConfig c, Map<String, Raw> raws) {
        Raw role = null, special = null;
        String layerPrefix = null;
        Raw layerPrefixExample = null;
        // canonical layer tensors: layer -> "q_proj.lora_A" ... -> tensor
        TreeMap<Integer, Map<String, Raw>> layerMap = new TreeMap<>();
        List<String> unexpected = new ArrayList<>();
        for (Raw r : raws.values()) {
            Matcher m = LAYER_KEY.matcher(r.name());
            Matcher t = TOKEN_KEY.matcher(r.name());
            if (m.matches() && LAYER_PREFIX.matcher(m.group(1)).matches()) {
                if (layerPrefix == null) {
                    layerPrefix = m.group(1);
                    layerPrefixExample = r;
                } else if (!layerPrefix.equals(m.group(1))) {
                    throw new SacException(src, "ambiguous tensor names: both " + layerPrefixExample.name() + " and " + r.name()
                            + " (one key prefix must be used throughout)");
                }
                int layer = Integer.parseInt(m.group(2));
                String part = m.group(3) + ".lora_" + m.group(4);
                Raw prev = layerMap.computeIfAbsent(layer, k -> new LinkedHashMap<>()).putIfAbsent(part, r);
                if (prev != null) throw new SacException(src, "ambiguous tensor names: both " + prev.name() + " and " + r.name());
            } else if (t.matches() && TOKEN_PREFIX.matcher(t.group(1)).matches()) {
                Raw prev = t.group(2).equals("role_tokens") ? role : special;
                if (prev != null) throw new SacException(src, "ambiguous tensor names: both " + prev.name() + " and " + r.name());
                if (t.group(2).equals("role_tokens")) role = r;
                else special = r;
            } else {
                unexpected.add(r.name());
            }
        }
        if (!unexpected.isEmpty())
            throw new SacException(src, "unexpected tensor " + unexpected.getFirst()
                    + (unexpected.size() > 1 ? " (and " + (unexpected.size() - 1) + " more)" : "")
                    + "; a SAC adapter holds role_tokens, special_tokens and model.model.layers.{i}.self_attn.{q_proj,v_proj}.lora_{A,B}");
        if (!layerMap.isEmpty() && layerMap.lastKey() >= c.nLayers()) {
            int extra = layerMap.lastKey();
            throw new SacException(src, "has layer " + extra + " (" + layerMap.get(extra).values().iterator().next().name()
                    + "), but the base model has " + c.nLayers() + " layers (0-" + (c.nLayers() - 1) + ")");
        }
        String prefix = layerPrefix == null ? CANONICAL_LAYER_PREFIX : layerPrefix;
        int d = c.dim();

        if (role == null) throw new SacException(src, "missing tensor role_tokens");
        if (special == null) throw new SacException(src, "missing tensor special_tokens");
        if (role.shape().length != 2 || role.shape()[1] != d)
            throw new SacException(src, role.name() + " has shape " + Arrays.toString(role.shape()) + ", expected [mem_size, "
                    + d + "] (hidden " + d + ")");
        long mem = role.shape()[0];
        if (mem < 1 || mem > MAX_MEM_SIZE)
            throw new SacException(src, role.name() + " has shape " + Arrays.toString(role.shape()) + ": mem_size " + mem
                    + " is not between 1 and " + MAX_MEM_SIZE + " (anchors in a 510-token chunk)");
        expectShape(src, special, new long[]{2, d}, "[AE] and [LM] x hidden " + d);

        // rank comes from layer 0's q_proj.lora_A; every other LoRA matrix must agree with it
        Raw[][] parts = new Raw[c.nLayers()][4];
        String[] names = {"q_proj.lora_A", "q_proj.lora_B", "v_proj.lora_A", "v_proj.lora_B"};
        for (int l = 0; l < c.nLayers(); l++) {
            Map<String, Raw> m = layerMap.getOrDefault(l, Map.of());
            for (int p = 0; p < 4; p++) {
                parts[l][p] = m.get(names[p]);
                if (parts[l][p] == null)
                    throw new SacException(src, "missing tensor " + prefix + "layers." + l + ".self_attn." + names[p]);
            }
        }
        Raw ref = parts[0][0];
        if (ref.shape().length != 2 || ref.shape()[0] != d)
            throw new SacException(src, ref.name() + " has shape " + Arrays.toString(ref.shape()) + ", expected [" + d
                    + ", rank] (hidden " + d + " x rank)");
        long r = ref.shape()[1];
        if (r < 1 || r > d)
            throw new SacException(src, ref.name() + " has shape " + Arrays.toString(ref.shape()) + ": rank " + r
                    + " is not between 1 and hidden " + d);
        for (int l = 0; l < c.nLayers(); l++) {
            for (int p = 0; p < 4; p += 2) {
                Raw a = parts[l][p], b = parts[l][p + 1];
                boolean q = p == 0;
                int out = q ? c.qDim() : c.kvDim();
                if (a.shape().length != 2 || a.shape()[0] != d)
                    throw new SacException(src, a.name() + " has shape " + Arrays.toString(a.shape()) + ", expected [" + d
                            + ", " + r + "] (hidden " + d + " x rank " + r + ")");
                if (a.shape()[1] != r)
                    throw new SacException(src, "rank mismatch: " + a.name() + " has shape " + Arrays.toString(a.shape())
                            + " (rank " + a.shape()[1] + "), but " + ref.name() + " has rank " + r);
                if (b.shape().length == 2 && b.shape()[1] == out && b.shape()[0] != r)
                    throw new SacException(src, "rank mismatch: " + b.name() + " has shape " + Arrays.toString(b.shape())
                            + " (rank " + b.shape()[0] + "), but its lora_A " + a.name() + " has rank " + r);
                expectShape(src, b, new long[]{r, out}, q
                        ? "heads " + c.nHeads() + " x head_dim " + c.headDim()
                        : "kv_heads " + c.nKvHeads() + " x head_dim " + c.headDim());
            }
        }
        List<Raw> all = new ArrayList<>(List.of(role, special));
        for (Raw[] layer : parts) all.addAll(List.of(layer));
        for (Raw x : all)
            if (x.type() == null)
                throw new SacException(src, x.name() + " is not a float tensor (expected F32, F16 or BF16)");

        // shapes are known to fit the model: every allocation below is bounded by the model's own size
        float[][] qA = new float[c.nLayers()][], qB = new float[c.nLayers()][], vA = new float[c.nLayers()][],
                vB = new float[c.nLayers()][];
        for (int l = 0; l < c.nLayers(); l++) {
            qA[l] = finite(src, parts[l][0]);
            qB[l] = finite(src, parts[l][1]);
            vA[l] = finite(src, parts[l][2]);
            vB[l] = finite(src, parts[l][3]);
        }
        return new SacAdapter(src, (int) mem, (int) r, d, finite(src, role), finite(src, special), qA, qB, vA, vB);
    }

    /**
     * The tensor's values, refused when one is NaN or infinite: merged into every q/v weight (or added to every
     * anchor), a single one would silently turn all answers into garbage. The adapter is small, so checking is free.
     */
    private static float[] finite(String src, Raw t) {
        float[] v = t.loader().load();
        for (int i = 0; i < v.length; i++)
            if (!Float.isFinite(v[i]))
                throw new SacException(src, t.name() + " holds " + v[i] + " at index " + i + " (values must be finite)");
        return v;
    }

    private static void expectShape(String src, Raw t, long[] shape, String why) {
        if (!Arrays.equals(t.shape(), shape))
            throw new SacException(src, t.name() + " has shape " + Arrays.toString(t.shape()) + ", expected "
                    + Arrays.toString(shape) + " (" + why + ")");
    }

    // ---- fingerprint -------------------------------------------------------------------------------------------

    private String computeFingerprint() {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        md.update("sac4j-adapter-v1\n".getBytes(StandardCharsets.UTF_8));
        ByteBuffer buf = ByteBuffer.allocate(4 * 4096).order(ByteOrder.LITTLE_ENDIAN);
        hash(md, buf, "role_tokens", memSize, dim, roleTokens);
        hash(md, buf, "special_tokens", 2, dim, specialTokens);
        int qOut = qB[0].length / rank, kvOut = vB[0].length / rank;
        for (int l = 0; l < layers; l++) {
            String p = CANONICAL_LAYER_PREFIX + "layers." + l + ".self_attn.";
            hash(md, buf, p + "q_proj.lora_A", dim, rank, qA[l]);
            hash(md, buf, p + "q_proj.lora_B", rank, qOut, qB[l]);
            hash(md, buf, p + "v_proj.lora_A", dim, rank, vA[l]);
            hash(md, buf, p + "v_proj.lora_B", rank, kvOut, vB[l]);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void hash(MessageDigest md, ByteBuffer buf, String name, int rows, int cols, float[] v) {
        md.update((name + " " + rows + "x" + cols + "\n").getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < v.length; ) {
            buf.clear();
            int n = Math.min(4096, v.length - i);
            buf.asFloatBuffer().put(v, i, n);
            md.update(buf.array(), 0, 4 * n);
            i += n;
        }
    }
}
