package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.Backend;
import io.sac4j.forward.KvCache;
import io.sac4j.load.ModelConfig;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;

/**
 * The {@code .sac} file: a {@link CompressedContext} saved to disk, so a context is compressed once and answered
 * many times, by this or a later process. All numbers are little-endian; "u32" values above 2^31-1 are refused.
 *
 * <pre>
 * offset  size  field
 * 0       8     magic "SAC4J\r\n\032" (53 41 43 34 4A 0D 0A 1A: the CR LF and ^Z catch text-mode mangling)
 * 8       4     u32 format version (1)
 * 12      2     u16 M, then M bytes: model fingerprint (UTF-8, at most 1024 bytes)
 * ..      2     u16 A, then A bytes: adapter fingerprint (UTF-8, at most 1024 bytes; "none" in training-free mode)
 * ..      4     u32 ratio (one anchor every ratio tokens)
 * ..      4     u32 n, context tokens (the answer starts at position n; at most 2^30)
 * ..      4     u32 anchors (rows per layer)
 * ..      4     u32 kind: 0 = SAC (with adapter), 1 = training-free SAC, 2 = plain baseline ({@link CompressedContext.Kind})
 * ..      4     u32 layers
 * ..      4     u32 kv heads
 * ..      4     u32 head dim
 * ..      4     u32 dtype (0 = float32, the only one in version 1)
 * ..            rows, layer-major: layer 0 K [anchors][kv heads * head dim], layer 0 V [same], layer 1 K, ...
 * end-32  32    SHA-256 of every byte before it
 * </pre>
 *
 * <p>{@link #save} is atomic: it writes a temporary file in the target's directory, forces it to disk, and renames it
 * over the target ({@code ATOMIC_MOVE}); on any failure the temporary file is removed and an existing target is left
 * as it was. {@link #load} checks, in order: magic, version, header sizes against the file length (truncation),
 * the checksum, then the dtype, the fingerprints and the shapes against the model in use, and that only a SAC
 * context names an adapter; each failure is one
 * {@link SacException} line naming the file. It never allocates more than the file's length implies.
 */
public final class SacFile {
    static final byte[] MAGIC = {'S', 'A', 'C', '4', 'J', '\r', '\n', 0x1a};
    /** The format version this code writes and the newest it reads. */
    public static final int FORMAT_VERSION = 1;
    static final int DTYPE_F32 = 0;
    /** Stable codes of {@link CompressedContext.Kind} in the file (not ordinals: the enum may grow or reorder). */
    private static final List<CompressedContext.Kind> KINDS =
            List.of(CompressedContext.Kind.SAC, CompressedContext.Kind.TRAINING_FREE, CompressedContext.Kind.PLAIN);
    static final int MAX_FINGERPRINT_BYTES = 1024;
    /** Most context tokens a file may claim (2^30), leaving room for the answer's positions below 2^31. */
    static final int MAX_CONTEXT_TOKENS = 1 << 30;
    static final int CHECKSUM_BYTES = 32;
    private static final int CHUNK = 1 << 16;

    private SacFile() {
    }

    /** Called at points of a save (tests simulate failures with it). */
    interface SaveHook {
        void at(String stage, long bytesWritten) throws IOException;
    }

    /**
     * Writes {@code ctx} to {@code file} atomically (see the class comment).
     *
     * @param config the model the context was made with (gives layers and kv width of the cache rows)
     */
    public static void save(Path file, CompressedContext ctx, ModelConfig config) {
        save(file, ctx, config, (stage, bytes) -> {
        });
    }

    static void save(Path file, CompressedContext ctx, ModelConfig config, SaveHook hook) {
        KvCache cache = ctx.cache();
        if (cache.prefixLength() != 0)
            throw new IllegalArgumentException("a compressed context's cache must not sit on a prefix");
        byte[] model = fingerprintBytes(ctx.modelFingerprint(), "model");
        byte[] adapter = fingerprintBytes(ctx.adapterFingerprint(), "adapter");
        if (ctx.ratio() < 1 || ctx.contextTokens() < 0 || ctx.anchors() < 0)
            throw new IllegalArgumentException("ratio " + ctx.ratio() + ", context tokens " + ctx.contextTokens()
                    + " and anchors " + ctx.anchors() + " must be positive");
        if ((ctx.kind() == CompressedContext.Kind.SAC) == CompressedContext.NO_ADAPTER.equals(ctx.adapterFingerprint()))
            throw new IllegalArgumentException("a " + ctx.kind() + " context with adapter fingerprint " + ctx.adapterFingerprint()
                    + " (only SAC contexts are made with an adapter)");
        int rowFloats = Math.multiplyExact(ctx.anchors(), config.kvDim());

        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        if (Files.isDirectory(target)) throw new SacException(file.toString(), "cannot save: it is a directory");
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
            MessageDigest md = sha256();
            long written = 0;
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer h = ByteBuffer.allocate(headerBytes(model.length, adapter.length)).order(ByteOrder.LITTLE_ENDIAN);
                h.put(MAGIC).putInt(FORMAT_VERSION);
                h.putShort((short) model.length).put(model).putShort((short) adapter.length).put(adapter);
                h.putInt(ctx.ratio()).putInt(ctx.contextTokens()).putInt(ctx.anchors()).putInt(kindCode(ctx.kind()))
                        .putInt(config.nLayers())
                        .putInt(config.nKvHeads()).putInt(config.headDim()).putInt(DTYPE_F32);
                written += write(ch, md, h.flip());
                hook.at("header", written);
                ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
                for (int l = 0; l < config.nLayers(); l++) {
                    float[][] kv = cache.ownRows(l);
                    for (float[] rows : kv) {
                        if (rows.length != rowFloats)
                            throw new IllegalArgumentException("layer " + l + " holds " + rows.length + " floats, expected "
                                    + ctx.anchors() + " anchors x kv width " + config.kvDim());
                        for (int i = 0; i < rows.length; ) {
                            int n = Math.min(CHUNK / 4, rows.length - i);
                            buf.clear();
                            buf.asFloatBuffer().put(rows, i, n);
                            buf.limit(4 * n);
                            written += write(ch, md, buf);
                            i += n;
                            hook.at("rows", written);
                        }
                    }
                }
                written += write(ch, md, ByteBuffer.wrap(md.digest()));
                hook.at("checksum", written);
                ch.force(true);
            }
            hook.at("move", written);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new SacException(file.toString(), "cannot save: " + describe(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the target itself was never touched
                }
            }
        }
    }

    /**
     * Reads a compressed context saved by {@link #save} and puts its rows in a cache of {@code backend}.
     *
     * @param expectedModelFingerprint   the fingerprint of the model in use; null skips the check
     * @param expectedAdapterFingerprint the fingerprint of the adapter in use ("none" without one); null skips it
     */
    public static CompressedContext load(Path file, Backend backend, ModelConfig config, String expectedModelFingerprint,
                                         String expectedAdapterFingerprint) {
        String src = file.toString();
        if (Files.isDirectory(file)) throw new SacException(src, "is a directory, expected a .sac file");
        // a FIFO (a downloaded tar archive can hold one) blocks forever, a device such as /dev/zero never ends
        if (Files.exists(file) && !Files.isRegularFile(file) && !Files.isDirectory(file))
            throw new SacException(file, "is not a regular file (a FIFO or a device?)");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Reader in = new Reader(src, ch, ch.size());
            byte[] magic = in.read((int) Math.min(MAGIC.length, in.size), true);
            if (in.size == 0) throw new SacException(src, "not a .sac file (it is empty)");
            if (!Arrays.equals(magic, 0, magic.length, MAGIC, 0, magic.length))
                throw new SacException(src, "not a .sac file (bad magic)");
            if (magic.length < MAGIC.length)
                throw new SacException(src, "truncated: expected at least " + (MAGIC.length + 4) + " bytes, file has " + in.size);
            int version = in.u32("format version");
            if (version > FORMAT_VERSION)
                throw new SacException(src, "format version " + version + " is newer than this sac4j (" + FORMAT_VERSION + ")");
            if (version < 1) throw new SacException(src, "format version " + version + " is not valid");
            String model = in.string("model fingerprint");
            String adapter = in.string("adapter fingerprint");
            int ratio = in.u32("ratio"), n = in.u32("context tokens"), anchors = in.u32("anchors"), kind = in.u32("kind");
            int layers = in.u32("layers"), kvHeads = in.u32("kv heads"), headDim = in.u32("head dim");
            int dtype = in.u32("dtype");
            // every context keeps at least one row; zero sizes would leave the layer count unbounded by the file's length
            if (anchors < 1 || layers < 1 || kvHeads < 1 || headDim < 1)
                throw new SacException(src, "corrupt: header sizes (" + layers + " layers, " + anchors + " anchors, "
                        + kvHeads + " x " + headDim + ") hold no rows");
            long dataBytes, expected;
            try {
                long kvDim = Math.multiplyExact((long) kvHeads, headDim);
                dataBytes = Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(2L * layers, anchors), kvDim), 4L);
                expected = Math.addExact(Math.addExact(in.pos, dataBytes), CHECKSUM_BYTES);
            } catch (ArithmeticException e) {
                throw new SacException(src, "corrupt: header sizes (" + layers + " layers, " + anchors + " anchors, "
                        + kvHeads + " x " + headDim + ") cannot be a file");
            }
            if (in.size < expected) throw new SacException(src, "truncated: expected " + expected + " bytes, file has " + in.size);
            if (in.size > expected)
                throw new SacException(src, "corrupt: expected " + expected + " bytes, file has " + in.size + " (trailing data)");

            // the sizes agree with the file's length, so these arrays are bounded by it
            long rowFloatsL = (long) anchors * kvHeads * headDim;
            if (rowFloatsL > Integer.MAX_VALUE - 16)
                throw new SacException(src, anchors + " anchors x " + kvHeads * (long) headDim + " floats per layer do not fit one array");
            // the rows go to the backend's cache as they are read (a GPU's: one plane on the heap at a time); a file
            // that fails a check below leaves that cache unreachable, so nothing of it is kept
            KvCache cache = backend.load(layers, anchors, kvHeads, headDim, (layer, plane, dst) -> in.floats(dst));
            byte[] actual = in.md.digest();
            byte[] stored = in.read(CHECKSUM_BYTES, false);
            if (!MessageDigest.isEqual(actual, stored)) throw new SacException(src, "corrupt: checksum mismatch");

            if (dtype != DTYPE_F32) throw new SacException(src, "dtype " + dtype + " is not supported (version 1 stores float32 = 0)");
            if (expectedModelFingerprint != null && !expectedModelFingerprint.equals(model))
                throw new SacException(src, "made with another model: fingerprint " + abbrev(model, expectedModelFingerprint) + " != "
                        + abbrev(expectedModelFingerprint, model));
            if (expectedAdapterFingerprint != null && !expectedAdapterFingerprint.equals(adapter))
                throw new SacException(src, "made with another adapter: fingerprint " + abbrev(adapter, expectedAdapterFingerprint) + " != "
                        + abbrev(expectedAdapterFingerprint, adapter));
            if (layers != config.nLayers() || kvHeads != config.nKvHeads() || headDim != config.headDim())
                throw new SacException(src, "made for " + layers + " layers x " + kvHeads + " kv heads x head dim " + headDim
                        + ", but the model has " + config.nLayers() + " x " + config.nKvHeads() + " x " + config.headDim());
            if (ratio < 1 || anchors > n)
                throw new SacException(src, "corrupt: ratio " + ratio + " with " + anchors + " anchors for " + n + " context tokens");
            // answers continue at position n: far below 2^31 so that positions never wrap around
            if (n > MAX_CONTEXT_TOKENS)
                throw new SacException(src, "corrupt: " + n + " context tokens, more than the " + MAX_CONTEXT_TOKENS + " allowed");
            if (kind >= KINDS.size()) throw new SacException(src, "unknown context kind " + kind + " (0 to " + (KINDS.size() - 1) + ")");
            // only SAC contexts are made with an adapter; the answer path relies on it
            CompressedContext.Kind ctxKind = KINDS.get(kind);
            if ((ctxKind == CompressedContext.Kind.SAC) == CompressedContext.NO_ADAPTER.equals(adapter))
                throw new SacException(src, "corrupt: a " + ctxKind + " context with adapter fingerprint " + abbrev(adapter, ""));
            return new CompressedContext(model, adapter, ratio, n, anchors, cache, ctxKind);
        } catch (NoSuchFileException e) {
            throw new SacException(src, "no such file");
        } catch (AccessDeniedException e) {
            throw new SacException(src, "permission denied");
        } catch (IOException e) {
            throw new SacException(src, "cannot read: " + e.getMessage(), e);
        }
    }

    // ---- reading -----------------------------------------------------------------------------------------------

    /** Sequential reads that know the file's length and feed everything they return into the checksum. */
    private static final class Reader {
        final String src;
        final FileChannel ch;
        final long size;
        final MessageDigest md = sha256();
        final ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        long pos;

        Reader(String src, FileChannel ch, long size) {
            this.src = src;
            this.ch = ch;
            this.size = size;
        }

        /** n bytes (the caller knows they are there), added to the checksum when {@code hash}. */
        byte[] read(int n, boolean hash) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(n);
            fill(b);
            if (hash) md.update(b.array());
            return b.array();
        }

        private byte[] exactly(int n, String what) throws IOException {
            if (size - pos < n)
                throw new SacException(src, "truncated: expected at least " + (pos + n) + " bytes (" + what + "), file has " + size);
            return read(n, true);
        }

        int u32(String what) throws IOException {
            int v = ByteBuffer.wrap(exactly(4, what)).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if (v < 0) throw new SacException(src, "corrupt: " + what + " " + Integer.toUnsignedString(v) + " is too large");
            return v;
        }

        String string(String what) throws IOException {
            int n = ByteBuffer.wrap(exactly(2, what)).order(ByteOrder.LITTLE_ENDIAN).getShort() & 0xffff;
            if (n > MAX_FINGERPRINT_BYTES) throw new SacException(src, "corrupt: " + what + " of " + n + " bytes");
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(exactly(n, what))).toString();
            } catch (CharacterCodingException e) {
                throw new SacException(src, "corrupt: " + what + " is not UTF-8");
            }
        }

        /** Fills {@code out} with the next out.length floats. */
        void floats(float[] out) throws IOException {
            int n = out.length;
            for (int i = 0; i < n; ) {
                int m = Math.min(CHUNK / 4, n - i);
                buf.clear().limit(4 * m);
                fill(buf);
                md.update(buf.array(), 0, 4 * m);
                buf.flip();
                buf.asFloatBuffer().get(out, i, m);
                i += m;
            }
        }

        private void fill(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                int r = ch.read(b, pos);
                if (r < 0) throw new SacException(src, "truncated: the file shrank while being read");
                pos += r;
            }
        }
    }

    // ---- writing -----------------------------------------------------------------------------------------------

    private static long write(FileChannel ch, MessageDigest md, ByteBuffer b) throws IOException {
        md.update(b.duplicate());
        long n = b.remaining();
        while (b.hasRemaining()) ch.write(b);
        return n;
    }

    /** Makes the rename itself durable; not every file system can open a directory, which is harmless. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // the data itself is already forced; only the rename's durability is best-effort
        }
    }

    private static int headerBytes(int modelBytes, int adapterBytes) {
        return MAGIC.length + 4 + 2 + modelBytes + 2 + adapterBytes + 8 * 4;
    }

    private static int kindCode(CompressedContext.Kind kind) {
        int code = KINDS.indexOf(kind);
        if (code < 0) throw new IllegalArgumentException("context kind " + kind + " has no code in format version 1");
        return code;
    }

    private static byte[] fingerprintBytes(String s, String what) {
        if (s == null) throw new IllegalArgumentException(what + " fingerprint is null");
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > MAX_FINGERPRINT_BYTES)
            throw new IllegalArgumentException(what + " fingerprint is longer than " + MAX_FINGERPRINT_BYTES + " bytes");
        return b;
    }

    /** "a1b2c3d4e5f6..." for one of two differing fingerprints; whole when the short forms would look equal. */
    private static String abbrev(String fp, String other) {
        String s = fp.replaceAll("[^ -~]", "?");
        if (s.length() <= 12 || fp.regionMatches(0, other, 0, 12)) return s;
        return s.substring(0, 12) + "...";
    }

    private static String describe(IOException e) {
        if (e instanceof AccessDeniedException) return "permission denied (" + e.getMessage() + ")";
        if (e instanceof NoSuchFileException) return "no such file or directory (" + e.getMessage() + ")";
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
