package io.sac4j.compress;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Anchor choice, with SAC.md's examples as the expected values. */
class AnchorsTest {

    /** SAC.md: r=5 -> 2,7,...,507 (102); r=15 -> 7,22,...,502 (34); r=51 -> 25,76,...,484 (10). */
    @ParameterizedTest
    @CsvSource({"5, 2, 507, 102", "15, 7, 502, 34", "51, 25, 484, 10"})
    void fullChunkMatchesThePaper(int ratio, int first, int last, int count) {
        int[] a = Anchors.inChunk(Anchors.CHUNK, ratio);
        assertEquals(count, a.length);
        assertEquals(first, a[0]);
        assertEquals(last, a[a.length - 1]);
        for (int i = 1; i < a.length; i++) assertEquals(ratio, a[i] - a[i - 1]);
        assertEquals(count, Anchors.perFullChunk(ratio));
        assertEquals(first, Anchors.offset(ratio));
    }

    @Test
    void shortChunksKeepOneAnchorAtZeroUpToTheOffset() {
        // r=15: off=7; L <= 7 -> {0}; L = 8 -> {7}; L = 23 -> {7, 22}
        assertArrayEquals(new int[]{0}, Anchors.inChunk(1, 15));
        assertArrayEquals(new int[]{0}, Anchors.inChunk(7, 15));
        assertArrayEquals(new int[]{7}, Anchors.inChunk(8, 15));
        assertArrayEquals(new int[]{7}, Anchors.inChunk(22, 15));
        assertArrayEquals(new int[]{7, 22}, Anchors.inChunk(23, 15));
        // r=1 and r=2 have off = 0: every token / every other token, no special case
        assertArrayEquals(new int[]{0, 1, 2}, Anchors.inChunk(3, 1));
        assertArrayEquals(new int[]{0, 2}, Anchors.inChunk(4, 2));
        // a ratio beyond the chunk keeps one anchor per chunk
        assertArrayEquals(new int[]{0}, Anchors.inChunk(510, 2000));
        assertArrayEquals(new int[]{0}, Anchors.inChunk(510, Integer.MAX_VALUE));
    }

    @Test
    void chunksAreIndependentAndGlobal() {
        // 1021 = 510 + 510 + 1: the third chunk has one token, below r=5's offset 2
        int[][] a = Anchors.uniform(1021, 5);
        assertEquals(3, a.length);
        assertEquals(102, a[0].length);
        assertEquals(512, a[1][0]);
        assertEquals(510 + 507, a[1][101]);
        assertArrayEquals(new int[]{1020}, a[2]);
        assertEquals(205, Anchors.count(1021, 5));
        assertEquals(205, Anchors.flatten(a).length);
        // the anchor count equals the flattened choice for many lengths and ratios
        for (int r : new int[]{1, 2, 3, 5, 15, 51, 509, 510, 511})
            for (int n : new int[]{1, 2, 7, 8, 509, 510, 511, 1020, 1021, 2100, 4097})
                assertEquals(Anchors.flatten(Anchors.uniform(n, r)).length, Anchors.count(n, r), "n=" + n + " r=" + r);
    }

    @Test
    void badRatiosAndLengthsAreRefused() {
        SacException e = assertThrows(SacException.class, () -> Anchors.uniform(10, 0));
        assertTrue(e.getMessage().contains("ratio must be >= 1"), e.getMessage());
        assertThrows(SacException.class, () -> Anchors.uniform(10, -5));
        assertThrows(SacException.class, () -> Anchors.random(10, 0, 1));
        assertThrows(SacException.class, () -> Anchors.uniform(0, 5));
    }

    @Test
    void randomAnchorsKeepTheCountsAndAreSeeded() {
        int n = 2100;
        for (int r : new int[]{5, 15, 51}) {
            int[][] u = Anchors.uniform(n, r), a = Anchors.random(n, r, 42), b = Anchors.random(n, r, 42);
            int[][] c = Anchors.random(n, r, 43);
            for (int k = 0; k < u.length; k++) {
                assertEquals(u[k].length, a[k].length, "chunk " + k);
                assertArrayEquals(a[k], b[k], "same seed, same anchors");
                int lo = k * Anchors.CHUNK, hi = Math.min(n, lo + Anchors.CHUNK);
                for (int i = 0; i < a[k].length; i++) {
                    assertTrue(a[k][i] >= lo && a[k][i] < hi, "anchor inside its chunk");
                    if (i > 0) assertTrue(a[k][i] > a[k][i - 1], "ascending, no repeats");
                }
            }
            assertFalse(Arrays.deepEquals(a, c), "another seed gives other anchors");
            assertFalse(Arrays.deepEquals(a, u), "random is not uniform");
        }
        // a full draw is a permutation: r=1 keeps every token whatever the seed
        assertArrayEquals(IntStream.range(0, 600).toArray(), Anchors.flatten(Anchors.random(600, 1, 7)));
    }

    /** splitmix64's published first output for seed 0 (e.g. Vigna's splitmix64.c): 0xE220A8397B1DCDAF. */
    @Test
    void generatorIsSplitMix64() {
        assertEquals(0xE220A8397B1DCDAFL, new Anchors.SplitMix64(0).next());
    }
}
