package io.sac4j.load;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded random corruption of the header bytes of each format (byte flips, overwritten words, truncation): loading
 * must either succeed or fail with a one-line SacException naming the file, never with another exception.
 * {@code -Dsac.long=true} runs 20 times as many rounds.
 */
class CorruptFilesFuzzTest {
    @TempDir
    Path tmp;

    static final int SCALE = Boolean.getBoolean("sac.long") ? 20 : 1;

    @Test
    void gguf() {
        Path good = LoadFixtures.gguf("tiny-llama.q8_0.gguf");
        long header;
        try (Arena a = Arena.ofConfined()) {
            header = GgufFile.open(good, a).dataOffset();
        }
        fuzz(good, (int) header, "m.gguf", 300, p -> {
            try (Arena a = Arena.ofConfined()) {
                GgufLoader.load(GgufFile.open(p, a));
            }
        });
    }

    @Test
    void safetensors() {
        Path dir = LoadFixtures.copyDir(SafetensorsLoaderTest.QWEN2, tmp.resolve("q"));
        Path st = dir.resolve("model.safetensors");
        byte[] b = LoadFixtures.bytes(st);
        int header = 8 + (int) LoadFixtures.le(b).getLong(0);
        fuzz(st, header, "q/model.safetensors", 200, p -> {
            try (Arena a = Arena.ofConfined()) {
                SafetensorsLoader.load(dir, a);
            }
        });
    }

    @Test
    void llama2c() {
        // few rounds: a 28-byte header has little to explore, and each round writes the whole 0.9 MB file
        fuzz(LoadFixtures.bundledBin(), Llama2cLoader.HEADER_BYTES, "m.bin", 45, p -> {
            try (Arena a = Arena.ofConfined()) {
                Llama2cLoader.load(p, a);
            }
        });
    }

    private void fuzz(Path good, int headerBytes, String target, int rounds, Consumer<Path> load) {
        byte[] orig = LoadFixtures.bytes(good);
        Path p = tmp.resolve(target);
        SplittableRandom rnd = new SplittableRandom(20240611);
        int failures = 0;
        rounds *= SCALE;
        for (int round = 0; round < rounds; round++) {
            byte[] b = orig.clone();
            switch (round % 3) {
                case 0 -> { // flip a few bits in the header
                    for (int k = 0; k < 1 + rnd.nextInt(3); k++) b[rnd.nextInt(headerBytes)] ^= (byte) (1 << rnd.nextInt(8));
                }
                case 1 -> { // overwrite an 8-byte word with an extreme value
                    int at = rnd.nextInt(Math.max(1, headerBytes - 8));
                    long v = switch (rnd.nextInt(4)) {
                        case 0 -> -1L;
                        case 1 -> Long.MAX_VALUE;
                        case 2 -> 1L << (32 + rnd.nextInt(30));
                        default -> rnd.nextLong();
                    };
                    LoadFixtures.le(b).putLong(at, v);
                }
                default -> b = Arrays.copyOf(b, rnd.nextInt(b.length)); // truncate
            }
            LoadFixtures.write(p, b);
            try {
                load.accept(p);
            } catch (SacException e) {
                failures++;
                assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
                assertFalse(e.getMessage().contains("\n"));
            } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
                fail("round " + round + ": " + e, e);
            }
        }
        assertTrue(failures > rounds / 3, "most corruptions should be detected: " + failures);
    }
}
