package io.sac4j.load;

import io.sac4j.SacException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * Karpathy's llama2.c checkpoint ({@code run.c} layout): a header of 7 little-endian int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means a separate classifier follows the
 * other weights), then float32 tensors token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
 * the precomputed freq_cis table (skipped), and wcls when not shared. Every tensor is a slice of one mapping.
 */
public final class Llama2cLoader {
    static final int HEADER_BYTES = 7 * 4;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cLoader() {
    }

    /** Maps {@code file} into {@code arena} and reads it. */
    public static LoadedWeights load(Path file, Arena arena) {
        return parse(file.toString(), Mapped.map(file, arena));
    }

    static LoadedWeights parse(String src, MemorySegment seg) {
        long size = seg.byteSize();
        if (size < HEADER_BYTES)
            throw new SacException(src, "truncated: expected a " + HEADER_BYTES + "-byte llama2.c header, file has " + size + " bytes");
        int dim = field(src, seg, 0, "dim", 1 << 16);
        int hidden = field(src, seg, 1, "hidden_dim", 1 << 20);
        int layers = field(src, seg, 2, "n_layers", 1024);
        int heads = field(src, seg, 3, "n_heads", dim);
        int kvHeads = field(src, seg, 4, "n_kv_heads", heads);
        int rawVocab = seg.get(I32, 5 * 4);
        // a negative vocab_size is llama2.c's flag for an unshared classifier
        boolean shared = rawVocab > 0;
        int vocab = field(src, "vocab_size", rawVocab == Integer.MIN_VALUE ? 0 : Math.abs(rawVocab), 1 << 24);
        int seqLen = field(src, seg, 6, "seq_len", 1 << 24);
        if (dim % heads != 0) throw new SacException(src, "dim " + dim + " is not a multiple of n_heads " + heads);
        if (heads % kvHeads != 0) throw new SacException(src, "n_heads " + heads + " is not a multiple of n_kv_heads " + kvHeads);
        int headDim = dim / heads;
        if (headDim % 2 != 0) throw new SacException(src, "head size " + headDim + " is odd; RoPE needs pairs");
        int kvDim = kvHeads * headDim;

        Cursor c = new Cursor(HEADER_BYTES);
        long L = layers;
        // Offsets first (exact arithmetic), so the size check comes before any slicing.
        long oEmb = c.skip((long) vocab * dim);
        long oRmsAtt = c.skip(L * dim);
        long oWq = c.skip(L * dim * dim);
        long oWk = c.skip(L * kvDim * dim);
        long oWv = c.skip(L * kvDim * dim);
        long oWo = c.skip(L * dim * dim);
        long oRmsFfn = c.skip(L * dim);
        long oW1 = c.skip(L * hidden * dim);
        long oW2 = c.skip(L * dim * hidden);
        long oW3 = c.skip(L * hidden * dim);
        long oRmsFinal = c.skip(dim);
        c.skip(Math.multiplyExact((long) seqLen, (long) headDim)); // freq_cis: seq_len*head_dim/2 real + as many imaginary
        long oWcls = shared ? -1 : c.skip((long) vocab * dim);
        long expected = c.pos;
        if (size < expected)
            throw new SacException(src, "truncated: expected " + expected + " bytes, file has " + size);
        if (size > expected)
            throw new SacException(src, (size - expected) + " bytes of unexpected data after the weights (expected "
                    + expected + " bytes, file has " + size + "; not a llama2.c checkpoint?)");

        // llama2.c models are trained on BOS-delimited sequences and run.c stops when BOS (1) comes out; 2 is </s>
        ModelConfig config = new ModelConfig("llama", dim, hidden, layers, heads, kvHeads, headDim, vocab, seqLen,
                1e-5f, 10000f, ModelConfig.RopeStyle.ADJACENT, null, false, shared, 1, new int[]{1, 2});

        Tensor emb = t(seg, "token_embedding", oEmb, vocab, dim);
        LlamaWeights.Layer[] ls = new LlamaWeights.Layer[layers];
        for (int i = 0; i < layers; i++) {
            ls[i] = new LlamaWeights.Layer(
                    t(seg, "rms_att[" + i + "]", oRmsAtt + 4L * i * dim, dim),
                    t(seg, "wq[" + i + "]", oWq + 4L * i * dim * dim, dim, dim),
                    t(seg, "wk[" + i + "]", oWk + 4L * i * kvDim * dim, kvDim, dim),
                    t(seg, "wv[" + i + "]", oWv + 4L * i * kvDim * dim, kvDim, dim),
                    t(seg, "wo[" + i + "]", oWo + 4L * i * dim * dim, dim, dim),
                    null, null, null,
                    t(seg, "rms_ffn[" + i + "]", oRmsFfn + 4L * i * dim, dim),
                    t(seg, "w1[" + i + "]", oW1 + 4L * i * hidden * dim, hidden, dim),
                    t(seg, "w2[" + i + "]", oW2 + 4L * i * dim * hidden, dim, hidden),
                    t(seg, "w3[" + i + "]", oW3 + 4L * i * hidden * dim, hidden, dim));
        }
        Tensor norm = t(seg, "rms_final", oRmsFinal, dim);
        Tensor out = shared ? emb : t(seg, "wcls", oWcls, vocab, dim);
        return new LoadedWeights(config, new LlamaWeights(emb, ls, norm, out));
    }

    private static int field(String src, MemorySegment seg, int index, String name, int max) {
        return field(src, name, seg.get(I32, 4L * index), max);
    }

    private static int field(String src, String name, int v, int max) {
        if (v <= 0 || v > max)
            throw new SacException(src, "not a llama2.c checkpoint: header " + name + " = " + v + " is out of range 1.." + max);
        return v;
    }

    private static Tensor t(MemorySegment seg, String name, long offset, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return new Tensor(name, DType.F32, shape, seg.asSlice(offset, 4 * n));
    }

    /** Running byte offset over consecutive float32 tensors, in exact arithmetic. */
    private static final class Cursor {
        long pos;

        Cursor(long start) {
            pos = start;
        }

        long skip(long floats) {
            long at = pos;
            pos = Math.addExact(pos, Math.multiplyExact(floats, 4L));
            return at;
        }
    }
}
