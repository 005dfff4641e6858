package io.sac4j.compress;

import io.sac4j.load.LlamaWeights;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * A model fingerprint: lowercase hex SHA-256 that tells whether a compressed context was made by this model. It is
 * cheap (a model is not read whole) and changes when any hyper-parameter, tensor name, shape or type changes, or
 * when the bytes of a sampled region do.
 *
 * <p>Digested, in this order, as UTF-8 text lines then raw bytes: the line "sac4j model fingerprint v1"; one line
 * per {@link ModelConfig} component in declaration order (floats as {@link Float#toHexString}, arrays as
 * {@link Arrays#toString}, null as "null"); then for every tensor in forward order (embedding; per layer attnNorm,
 * wq, wk, wv, wo, bq, bk, bv, ffnNorm, wGate, wDown, wUp; final norm; output) a line "name type shape bytes" ("-"
 * for an absent bias) followed by a sample of its bytes: the whole tensor when it has at most
 * {@value #SAMPLES} x {@value #WINDOW} bytes, else {@value #SAMPLES} windows of {@value #WINDOW} bytes starting at
 * i * (bytes - {@value #WINDOW}) / ({@value #SAMPLES} - 1) for i = 0..{@value #SAMPLES}-1 (first and last bytes
 * included). Names come from the file format, so the same weights loaded from two formats fingerprint differently.
 */
public final class Fingerprint {
    static final int SAMPLES = 16;
    static final int WINDOW = 64;

    private Fingerprint() {
    }

    public static String of(ModelConfig c, LlamaWeights w) {
        MessageDigest md = sha256();
        line(md, "sac4j model fingerprint v1");
        line(md, c.arch());
        for (int v : new int[]{c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.headDim(), c.vocabSize(), c.maxSeqLen()})
            line(md, Integer.toString(v));
        line(md, Float.toHexString(c.normEps()));
        line(md, Float.toHexString(c.ropeTheta()));
        line(md, c.ropeStyle().name());
        ModelConfig.RopeScaling s = c.ropeScaling();
        line(md, s == null ? "null" : Float.toHexString(s.factor()) + " " + Float.toHexString(s.lowFreqFactor()) + " "
                + Float.toHexString(s.highFreqFactor()) + " " + s.originalMaxPositions());
        line(md, Boolean.toString(c.qkvBias()));
        line(md, Boolean.toString(c.tiedEmbeddings()));
        line(md, Integer.toString(c.bosId()));
        line(md, Arrays.toString(c.eosIds()));
        float[] ff = c.ropeFreqFactors();
        if (ff == null) line(md, "null");
        else {
            StringBuilder b = new StringBuilder();
            for (float f : ff) b.append(Float.toHexString(f)).append(' ');
            line(md, b.toString());
        }

        tensor(md, w.tokenEmbedding());
        for (LlamaWeights.Layer l : w.layers())
            for (Tensor t : l.tensors()) tensor(md, t);
        tensor(md, w.finalNorm());
        tensor(md, w.output());
        return HexFormat.of().formatHex(md.digest());
    }

    /** SHA-256 of raw bytes, as lowercase hex (for adapters and tests). */
    public static String sha256Hex(byte[] data) {
        return HexFormat.of().formatHex(sha256().digest(data));
    }

    private static void tensor(MessageDigest md, Tensor t) {
        if (t == null) {
            line(md, "-");
            return;
        }
        MemorySegment data = t.data();
        long bytes = data.byteSize();
        line(md, t.name() + " " + t.type() + " " + Arrays.toString(t.shape()) + " " + bytes);
        if (bytes <= (long) SAMPLES * WINDOW) {
            md.update(data.toArray(ValueLayout.JAVA_BYTE));
            return;
        }
        byte[] window = new byte[WINDOW];
        for (int i = 0; i < SAMPLES; i++) {
            long at = i * (bytes - WINDOW) / (SAMPLES - 1);
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, at, window, 0, WINDOW);
            md.update(window);
        }
    }

    private static void line(MessageDigest md, String s) {
        md.update((s + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
