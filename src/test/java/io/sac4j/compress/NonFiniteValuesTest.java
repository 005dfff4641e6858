package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NaN and infinite values, as documented in README "Security and limits": model weights are not scanned (that would
 * read gigabytes at load), so a model with NaN weights loads and its outputs are NaN, without any failure; a SAC
 * adapter is small and poisons every answer, so a NaN or infinity in it is refused; a .sac file holds what the model
 * computed and is checksummed, so its values are taken as they are.
 */
class NonFiniteValuesTest {
    @TempDir
    Path tmp;

    @Test
    void modelWeightsWithNaNLoadAndRunToNaN() throws IOException {
        Path bin = tmp.resolve("nan.bin"), tok = tmp.resolve("tok512.bin");
        byte[] b;
        try (InputStream in = Model.class.getResourceAsStream("/io/sac4j/models/aidreams260K.bin");
             InputStream t = Model.class.getResourceAsStream("/io/sac4j/models/tok512.bin")) {
            b = in.readAllBytes();
            Files.write(tok, t.readAllBytes());
        }
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int dim = bb.getInt(0), vocab = bb.getInt(20);
        long rmsAtt = 28 + 4L * vocab * dim; // rms_att of layer 0 follows the embedding table
        bb.putFloat((int) rmsAtt, Float.NaN);
        bb.putFloat((int) rmsAtt + 4, Float.POSITIVE_INFINITY);
        Files.write(bin, b);
        try (Model m = Model.open(bin, tok); CpuBackend backend = new CpuBackend(1); Sac sac = Sac.open(m, null, backend)) {
            Llama llama = new Llama(m, backend);
            float[] logits = llama.forward(new int[]{1, 5}, new int[]{0, 1}, llama.newCache(2), Mask.causal(), Logits.LAST);
            assertTrue(Float.isNaN(logits[0]), "NaN weights give NaN logits");
            // greedy decoding over NaN logits picks token 0 every step (no comparison succeeds): garbage, no failure
            Answer a = sac.answer(sac.compress("Some text.", 5), "Why?", AnswerOptions.DEFAULT.withMaxNewTokens(3));
            assertEquals(3, a.ids().length);
            for (int id : a.ids()) assertEquals(0, id);
        }
    }

    @Test
    void adaptersWithNaNOrInfinityAreRefused() throws IOException {
        var base = SacAdapterTest.bundledConfig();
        if (SacAdapterTest.base == null) SacAdapterTest.base = base; // fixtureTensors reads the fixture against it
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            LinkedHashMap<String, Object[]> t = SacAdapterTest.fixtureTensors();
            String key = "model.model.layers.2.self_attn.v_proj.lora_B";
            float[] v = ((float[]) t.get(key)[1]).clone();
            v[7] = bad;
            t.put(key, new Object[]{t.get(key)[0], v});
            Path f = SacAdapterTest.writeSafetensors(tmp.resolve("bad" + Float.floatToRawIntBits(bad) + ".safetensors"), t, "F32");
            SacException e = assertThrows(SacException.class, () -> SacAdapter.load(f, base));
            assertEquals(f + ": " + key + " holds " + bad + " at index 7 (values must be finite)", e.getMessage());
        }
    }

    @Test
    void sacFilesKeepNonFiniteRowsAsComputed() throws IOException {
        try (Model m = Model.bundled(); CpuBackend backend = new CpuBackend(1); Sac sac = Sac.open(m, null, backend)) {
            CompressedContext c = sac.compress("Some text.", 5);
            float[][] k = new float[m.config().nLayers()][], v = new float[m.config().nLayers()][];
            for (int l = 0; l < k.length; l++) {
                float[][] kv = c.cache().ownRows(l);
                k[l] = kv[0];
                v[l] = kv[1];
            }
            k[0][3] = Float.NaN;
            v[1][0] = Float.NEGATIVE_INFINITY;
            CompressedContext odd = new CompressedContext(c.modelFingerprint(), c.adapterFingerprint(), c.ratio(),
                    c.contextTokens(), c.anchors(), backend.cacheOf(k, v, m.config()));
            Path f = tmp.resolve("odd.sac");
            SacFile.save(f, odd, m.config());
            CompressedContext back = SacFile.load(f, backend, m.config(), sac.modelFingerprint(), null);
            assertTrue(Float.isNaN(back.cache().ownRows(0)[0][3]));
            assertEquals(Float.NEGATIVE_INFINITY, back.cache().ownRows(1)[1][0]);
            sac.answer(back, "Why?", AnswerOptions.DEFAULT.withMaxNewTokens(2));
        }
    }
}
