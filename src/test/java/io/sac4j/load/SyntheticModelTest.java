package io.sac4j.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticModelTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Test
    void llama32_1BPresetHasTheRealShape() {
        ModelConfig c = SyntheticModel.llama32_1B();
        assertEquals(2048, c.dim());
        assertEquals(8192, c.hiddenDim());
        assertEquals(16, c.nLayers());
        assertEquals(32, c.nHeads());
        assertEquals(8, c.nKvHeads());
        assertEquals(64, c.headDim());
        assertEquals(128256, c.vocabSize());
        assertTrue(c.tiedEmbeddings());
    }

    /** Shapes, types, tying and seeding of a whole model; values spread like N(0, 0.02^2). */
    @ParameterizedTest
    @EnumSource(DType.class)
    void buildsSeededWeightsOfTheConfigShape(DType type) {
        ModelConfig c = SyntheticModel.config(64, 96, 2, 4, 2, 16, 100);
        try (SyntheticModel a = SyntheticModel.create(c, type, 7); SyntheticModel b = SyntheticModel.create(c, type, 7);
             SyntheticModel other = SyntheticModel.create(c, type, 8)) {
            LlamaWeights w = a.weights();
            assertEquals(2, w.layers().length);
            assertSame(w.tokenEmbedding(), w.output());
            LlamaWeights.Layer l = w.layers()[1];
            assertEquals(type, l.wq().type());
            assertEquals(DType.F32, l.attnNorm().type());
            assertEquals(64, l.wq().rows());
            assertEquals(32, l.wk().rows());
            assertEquals(96, l.wGate().rows());
            assertEquals(96, l.wDown().cols());
            assertEquals(100, w.tokenEmbedding().rows());
            assertEquals(-1, l.wq().data().mismatch(b.weights().layers()[1].wq().data()), "same seed, same bytes");
            assertNotEquals(-1, l.wq().data().mismatch(other.weights().layers()[1].wq().data()), "other seed, other bytes");
            assertNotEquals(-1, l.wq().data().mismatch(l.wk().data()), "tensors differ from each other");
            float[] g = l.wGate().toFloats();
            double mean = 0, var = 0;
            for (float v : g) mean += v;
            mean /= g.length;
            for (float v : g) var += (v - mean) * (v - mean);
            double std = Math.sqrt(var / g.length);
            assertTrue(Math.abs(mean) < 0.002 && Math.abs(std - SyntheticModel.STD) < 0.002, "mean " + mean + ", std " + std);
        }
    }

    /**
     * Q8_0 blocks follow ggml's quantize_row_q8_0: d = max|x| / 127 stored as f16, q = roundf(x / d), which rounds
     * halves away from zero (Math.round would take -1.5 to -1). With max|x| = 127/128, d = 1/128 exactly, so
     * x = +-3/256 and +-5/256 land exactly on halves.
     */
    @Test
    void q8QuantisesLikeGgml() {
        float[] row = new float[64]; // second block all zero: d = 0, q = 0
        row[0] = 127f / 128;
        row[1] = 3f / 256;
        row[2] = -3f / 256;
        row[3] = 5f / 256;
        row[4] = -5f / 256;
        row[5] = -127f / 128;
        row[6] = 1f / 1024; // 0.125 -> 0
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(DType.Q8_0.bytes(64));
            SyntheticModel.store(DType.Q8_0, seg, 0, row);
            assertEquals(Float.floatToFloat16(1f / 128), seg.get(I16, 0));
            byte[] want = {127, 2, -2, 3, -3, -127, 0};
            for (int j = 0; j < want.length; j++) assertEquals(want[j], seg.get(ValueLayout.JAVA_BYTE, 2 + j), "quant " + j);
            assertEquals(0, seg.get(I16, 34));
            for (int j = 0; j < 32; j++) assertEquals(0, seg.get(ValueLayout.JAVA_BYTE, 36 + j));
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3f80, SyntheticModel.toBf16(1.0f));
        assertEquals((short) 0x3f80, SyntheticModel.toBf16(Float.intBitsToFloat(0x3f808000))); // tie, even stays
        assertEquals((short) 0x3f82, SyntheticModel.toBf16(Float.intBitsToFloat(0x3f818000))); // tie, odd rounds up
        assertEquals((short) 0x3f81, SyntheticModel.toBf16(Float.intBitsToFloat(0x3f808001)));
        assertTrue(Float.isNaN(Tensor.bf16(SyntheticModel.toBf16(Float.NaN))));
    }

    @Test
    void q8NeedsWholeBlocks() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> SyntheticModel.matrix(arena, "w", DType.Q8_0, 4, 48, 1));
        }
    }
}
