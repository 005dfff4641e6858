package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.KvCache;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.ModelConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SacFileTest {
    static final String MODEL_FP = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    static final String ADAPTER_FP = "17339edfe21cd92e1ffe15a1b6a72f8e708b6293578a618b86638397a2201ae1";
    static final int ANCHORS = 7;
    /** Header fields counted back from the end of the header: ratio, n, anchors, kind, layers, kv heads, head dim, dtype. */
    static final int RATIO_FROM_END = 32, ANCHORS_FROM_END = 24, KIND_FROM_END = 20, LAYERS_FROM_END = 16, HEAD_DIM_FROM_END = 8;

    static CpuBackend backend;
    static ModelConfig config;

    @BeforeAll
    static void setUp() {
        backend = new CpuBackend(1);
        config = SacAdapterTest.bundledConfig();
    }

    @AfterAll
    static void tearDown() {
        backend.close();
    }

    /** Random rows, every bit pattern included (NaN payloads, infinities, -0, subnormals): the format is raw bits. */
    static CompressedContext context(long seed, int anchors, ModelConfig c) {
        Random r = new Random(seed);
        float[][] k = new float[c.nLayers()][anchors * c.kvDim()], v = new float[c.nLayers()][anchors * c.kvDim()];
        for (int l = 0; l < c.nLayers(); l++)
            for (int i = 0; i < k[l].length; i++) {
                k[l][i] = Float.intBitsToFloat(r.nextInt());
                v[l][i] = i % 3 == 0 ? (float) r.nextGaussian() : Float.intBitsToFloat(r.nextInt());
            }
        k[0][0] = -0.0f;
        v[0][0] = Float.MIN_VALUE;
        return new CompressedContext(MODEL_FP, ADAPTER_FP, 5, 37, anchors, backend.cacheOf(k, v, c));
    }

    static long headerBytes() {
        return 8 + 4 + 2 + MODEL_FP.length() + 2 + ADAPTER_FP.length() + 8 * 4;
    }

    static long fileBytes(int anchors, ModelConfig c) {
        return headerBytes() + 2L * c.nLayers() * anchors * c.kvDim() * 4 + 32;
    }

    static void assertSameRows(KvCache a, KvCache b, ModelConfig c) {
        assertEquals(a.length(), b.length());
        for (int l = 0; l < c.nLayers(); l++) {
            float[][] x = a.ownRows(l), y = b.ownRows(l);
            for (int j = 0; j < 2; j++) {
                int[] xb = new int[x[j].length], yb = new int[y[j].length];
                for (int i = 0; i < xb.length; i++) xb[i] = Float.floatToRawIntBits(x[j][i]);
                for (int i = 0; i < yb.length; i++) yb[i] = Float.floatToRawIntBits(y[j][i]);
                assertArrayEquals(xb, yb, "layer " + l + (j == 0 ? " K" : " V"));
            }
        }
    }

    static CompressedContext load(Path f) {
        return SacFile.load(f, backend, config, MODEL_FP, ADAPTER_FP);
    }

    static String refused(Path f, String expectedModel, String expectedAdapter, ModelConfig c) {
        SacException e = assertThrows(SacException.class, () -> SacFile.load(f, backend, c, expectedModel, expectedAdapter));
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        return e.getMessage().substring(f.toString().length() + 2);
    }

    static String refused(Path f) {
        return refused(f, MODEL_FP, ADAPTER_FP, config);
    }

    @Test
    void roundTripIsBitIdentical(@TempDir Path tmp) throws IOException {
        CompressedContext ctx = context(1, ANCHORS, config);
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, ctx, config);
        assertEquals(fileBytes(ANCHORS, config), Files.size(f));
        byte[] head = Arrays.copyOf(Files.readAllBytes(f), 8);
        assertArrayEquals(new byte[]{'S', 'A', 'C', '4', 'J', '\r', '\n', 0x1a}, head);

        CompressedContext back = load(f);
        assertEquals(ctx.modelFingerprint(), back.modelFingerprint());
        assertEquals(ctx.adapterFingerprint(), back.adapterFingerprint());
        assertEquals(ctx.ratio(), back.ratio());
        assertEquals(ctx.contextTokens(), back.contextTokens());
        assertEquals(ctx.anchors(), back.anchors());
        assertEquals(0, back.cache().prefixLength());
        assertSameRows(ctx.cache(), back.cache(), config);

        // saving what was loaded gives the same bytes
        Path g = tmp.resolve("again.sac");
        SacFile.save(g, back, config);
        assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(g));
        // null expectations skip the fingerprint checks
        assertEquals(ANCHORS, SacFile.load(f, backend, config, null, null).anchors());
    }

    @Test
    void everyKindRoundTrips(@TempDir Path tmp) {
        CompressedContext sac = context(12, 3, config);
        assertEquals(CompressedContext.Kind.SAC, sac.kind());
        List<CompressedContext> all = List.of(sac,
                new CompressedContext(MODEL_FP, CompressedContext.NO_ADAPTER, 15, 40, 3, sac.cache()),
                new CompressedContext(MODEL_FP, CompressedContext.NO_ADAPTER, 1, 3, 3, sac.cache(), CompressedContext.Kind.PLAIN));
        for (CompressedContext c : all) {
            Path f = tmp.resolve(c.kind() + ".sac");
            SacFile.save(f, c, config);
            CompressedContext back = SacFile.load(f, backend, config, MODEL_FP, c.adapterFingerprint());
            assertEquals(c.kind(), back.kind());
            assertEquals(c.ratio(), back.ratio());
            assertEquals(c.contextTokens(), back.contextTokens());
            assertSameRows(c.cache(), back.cache(), config);
        }
    }

    /** Rewrites the trailing SHA-256 after a deliberate edit, to reach the checks made after the checksum. */
    static byte[] reseal(byte[] all) throws Exception {
        byte[] sum = java.security.MessageDigest.getInstance("SHA-256").digest(Arrays.copyOf(all, all.length - 32));
        System.arraycopy(sum, 0, all, all.length - 32, 32);
        return all;
    }

    @Test
    void checksAfterTheChecksum(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(13, ANCHORS, config), config);
        int h = (int) headerBytes();
        byte[] kind = Files.readAllBytes(f);
        ByteBuffer.wrap(kind).order(ByteOrder.LITTLE_ENDIAN).putInt(h - KIND_FROM_END, 9);
        assertEquals("unknown context kind 9 (0 to 2)", refused(Files.write(tmp.resolve("k.sac"), reseal(kind))));
        byte[] dtype = Files.readAllBytes(f);
        ByteBuffer.wrap(dtype).order(ByteOrder.LITTLE_ENDIAN).putInt(h - 4, 1);
        assertEquals("dtype 1 is not supported (version 1 stores float32 = 0)", refused(Files.write(tmp.resolve("d.sac"), reseal(dtype))));
        byte[] ratio = Files.readAllBytes(f);
        ByteBuffer.wrap(ratio).order(ByteOrder.LITTLE_ENDIAN).putInt(h - RATIO_FROM_END, 0);
        assertEquals("corrupt: ratio 0 with 7 anchors for 37 context tokens", refused(Files.write(tmp.resolve("r.sac"), reseal(ratio))));
    }

    @Test
    void layoutIsLayerMajorLittleEndian(@TempDir Path tmp) throws IOException {
        CompressedContext ctx = context(2, 3, config);
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, ctx, config);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, b.getInt(8));
        int rowBytes = 3 * config.kvDim() * 4;
        int h = (int) headerBytes();
        float[][] layer2 = ctx.cache().ownRows(2);
        // layer 2's V block starts after layers 0 and 1 (K and V each) and layer 2's K
        int vStart = h + (2 * 2 + 1) * rowBytes;
        assertEquals(Float.floatToRawIntBits(layer2[1][0]), b.getInt(vStart));
        assertEquals(Float.floatToRawIntBits(layer2[0][5]), b.getInt(h + 4 * rowBytes + 20));
    }

    @Test
    void truncatedAtEveryKindOfOffset(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(3, ANCHORS, config), config);
        byte[] all = Files.readAllBytes(f);
        long h = headerBytes();
        for (long cut : new long[]{5, 8, 11, 13, 40, h - 1, h, h + 3, all.length / 2, all.length - 33, all.length - 1}) {
            Path t = tmp.resolve("cut" + cut + ".sac");
            Files.write(t, Arrays.copyOf(all, (int) cut));
            String msg = refused(t);
            assertTrue(msg.startsWith("truncated: expected "), cut + ": " + msg);
            if (cut >= h) assertEquals("truncated: expected " + all.length + " bytes, file has " + cut, msg);
        }
        Path empty = Files.write(tmp.resolve("empty.sac"), new byte[0]);
        assertEquals("not a .sac file (it is empty)", refused(empty));
        Path longer = Files.write(tmp.resolve("long.sac"), Arrays.copyOf(all, all.length + 4));
        assertEquals("corrupt: expected " + all.length + " bytes, file has " + (all.length + 4) + " (trailing data)", refused(longer));
    }

    @Test
    void flippedBytesFailTheChecksum(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(4, ANCHORS, config), config);
        byte[] all = Files.readAllBytes(f);
        // in a fingerprint, in the ratio field, in the rows, in the stored checksum
        for (int at : new int[]{20, (int) headerBytes() - RATIO_FROM_END, (int) headerBytes() + 100, all.length - 40, all.length - 1}) {
            byte[] bad = all.clone();
            bad[at] ^= 0x01;
            Path t = Files.write(tmp.resolve("flip" + at + ".sac"), bad);
            assertEquals("corrupt: checksum mismatch", refused(t), "flip at " + at);
        }
    }

    @Test
    void badMagicAndFutureVersion(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(5, ANCHORS, config), config);
        byte[] all = Files.readAllBytes(f);

        byte[] zip = all.clone();
        zip[0] = 'P';
        zip[1] = 'K';
        assertEquals("not a .sac file (bad magic)", refused(Files.write(tmp.resolve("m.sac"), zip)));

        byte[] future = all.clone();
        ByteBuffer.wrap(future).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 7);
        assertEquals("format version 7 is newer than this sac4j (1)", refused(Files.write(tmp.resolve("v.sac"), future)));
    }

    @Test
    void foreignFingerprints(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(6, ANCHORS, config), config);
        String other = "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2";
        assertEquals("made with another model: fingerprint a1b2c3d4e5f6... != c3d4e5f60718...", refused(f, other, ADAPTER_FP, config));
        assertEquals("made with another adapter: fingerprint 17339edfe21c... != none", refused(f, MODEL_FP, "none", config));
    }

    @Test
    void shapeMismatchWithTheModel(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(7, ANCHORS, config), config);
        ModelConfig gqa = SacAdapterTest.config(64, 4, 4, 2, 16);
        assertEquals("made for 4 layers x 4 kv heads x head dim 16, but the model has 4 x 2 x 16", refused(f, MODEL_FP, ADAPTER_FP, gqa));
        ModelConfig deeper = SacAdapterTest.config(64, 5, 4, 4, 16);
        assertEquals("made for 4 layers x 4 kv heads x head dim 16, but the model has 5 x 4 x 16", refused(f, MODEL_FP, ADAPTER_FP, deeper));
    }

    @ParameterizedTest
    @ValueSource(ints = {Integer.MAX_VALUE, 1 << 20})
    void hugeDeclaredSizesAllocateNothing(int anchors, @TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(8, ANCHORS, config), config);
        byte[] all = Files.readAllBytes(f);
        int anchorsAt = (int) headerBytes() - ANCHORS_FROM_END;
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putInt(anchorsAt, anchors);
        Path t = Files.write(tmp.resolve("big.sac"), all);
        long expected = headerBytes() + 2L * 4 * anchors * 64 * 4 + 32;
        assertEquals("truncated: expected " + expected + " bytes, file has " + all.length, refused(t));
    }

    /** Zero rows would leave the layer count unbounded by the file's length: refused before anything is allocated. */
    @Test
    void zeroSizesAreRefusedBeforeAllocating(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        SacFile.save(f, context(9, ANCHORS, config), config);
        int h = (int) headerBytes();
        byte[] all = Files.readAllBytes(f);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(h - ANCHORS_FROM_END, 0).putInt(h - LAYERS_FROM_END, Integer.MAX_VALUE);
        assertEquals("corrupt: header sizes (2147483647 layers, 0 anchors, 4 x 16) hold no rows",
                refused(Files.write(tmp.resolve("zero.sac"), all)));
        b.putInt(h - ANCHORS_FROM_END, ANCHORS).putInt(h - LAYERS_FROM_END, config.nLayers()).putInt(h - HEAD_DIM_FROM_END, 0);
        assertEquals("corrupt: header sizes (4 layers, 7 anchors, 4 x 0) hold no rows",
                refused(Files.write(tmp.resolve("zero-dim.sac"), all)));
    }

    @Test
    void failedSaveLeavesThePreviousFileIntact(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("ctx.sac");
        CompressedContext first = context(9, ANCHORS, config);
        SacFile.save(f, first, config);
        byte[] before = Files.readAllBytes(f);
        CompressedContext second = context(10, ANCHORS + 2, config);
        for (String stage : List.of("header", "rows", "checksum", "move")) {
            SacException e = assertThrows(SacException.class, () -> SacFile.save(f, second, config, (s, n) -> {
                if (s.equals(stage)) throw new IOException("simulated failure at " + s + " after " + n + " bytes");
            }));
            assertTrue(e.getMessage().startsWith(f + ": cannot save: simulated failure at " + stage), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(f), "target changed by a failed save at " + stage);
            try (Stream<Path> files = Files.list(tmp)) {
                assertEquals(List.of(f), files.toList(), "temporary file left behind after a failure at " + stage);
            }
        }
        // a save that succeeds replaces the file
        SacFile.save(f, second, config);
        assertNotEquals(before.length, Files.size(f));
        assertSameRows(second.cache(), load(f).cache(), config);
    }

    @Test
    void saveErrorsAreOneLine(@TempDir Path tmp) {
        CompressedContext ctx = context(11, 2, config);
        Path missingDir = tmp.resolve("no").resolve("such").resolve("ctx.sac");
        SacException e = assertThrows(SacException.class, () -> SacFile.save(missingDir, ctx, config));
        assertTrue(e.getMessage().startsWith(missingDir + ": cannot save: "), e.getMessage());
        e = assertThrows(SacException.class, () -> SacFile.save(tmp, ctx, config));
        assertEquals(tmp + ": cannot save: it is a directory", e.getMessage());
    }

    @Test
    void loadErrorsForMissingFiles(@TempDir Path tmp) {
        assertEquals("no such file", refused(tmp.resolve("absent.sac")));
        assertEquals("is a directory, expected a .sac file", refused(tmp));
    }
}
