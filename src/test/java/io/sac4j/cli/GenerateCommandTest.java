package io.sac4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class GenerateCommandTest {

    @Test
    void greedyFromBosOnTheBundledModelWritesItsKnownText() {
        var r = CliRunner.run("generate", "-n", "30", "--threads", "2");
        assertEquals(0, r.exit(), r.err());
        // shared/models/README.md: greedy generation from BOS starts with a quote and this phrase
        assertTrue(r.out().startsWith("\"Echoes of vectors unfold, a gentle hum of precision"), r.out());
        assertTrue(r.err().matches("(?s).*prefill: 1 tokens, [0-9.]+ tok/s \\| decode: \\d+ tokens, [0-9.]+ tok/s.*"), r.err());
    }

    @Test
    void promptIsEchoedThenContinued() {
        var r = CliRunner.run("generate", "--prompt", "Echoes of", "-n", "8", "--quiet");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("Echoes of"), r.out());
        assertTrue(r.out().length() > "Echoes of".length() + 5, r.out());
        assertEquals("", r.err(), "--quiet prints nothing on stderr");
    }

    @Test
    void samplingIsReproducibleForASeed() {
        var a = CliRunner.run("generate", "-n", "40", "--temperature", "1.0", "--seed", "7", "--quiet");
        var b = CliRunner.run("generate", "-n", "40", "--temperature", "1.0", "--seed", "7", "--quiet");
        var c = CliRunner.run("generate", "-n", "40", "--temperature", "1.0", "--seed", "8", "--quiet");
        var greedy = CliRunner.run("generate", "-n", "40", "--quiet");
        assertEquals(0, a.exit());
        assertEquals(a.out(), b.out());
        assertNotEquals(a.out(), c.out(), "another seed should give another text at temperature 1");
        assertNotEquals(greedy.out(), a.out());
    }

    @Test
    void unknownOptionIsAOneLineUsageError() {
        var r = CliRunner.run("generate", "--bogus");
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("sac: error: Unrecognized option: --bogus"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void badOptionValuesAreUsageErrors() {
        assertEquals(2, CliRunner.run("generate", "-n", "abc").exit());
        assertEquals(2, CliRunner.run("generate", "--temperature", "-1").exit());
        assertEquals(2, CliRunner.run("generate", "--top-p", "0").exit());
        assertEquals(2, CliRunner.run("generate", "--threads", "0").exit());
        assertEquals(2, CliRunner.run("nosuchcommand").exit());
    }

    @Test
    void helpAndVersion() {
        var h = CliRunner.run("generate", "--help");
        assertEquals(0, h.exit());
        assertTrue(h.out().contains("--temperature"), h.out());
        var top = CliRunner.run("--help");
        assertEquals(0, top.exit());
        assertTrue(top.out().contains("generate"));
        var v = CliRunner.run("--version");
        assertEquals(0, v.exit());
        assertTrue(v.out().startsWith("sac "), v.out());
    }

    @Test
    void missingAndCorruptModelFilesNameTheFileInOneLine(@TempDir Path dir) throws Exception {
        var missing = CliRunner.run("generate", "--model", dir.resolve("nope.bin").toString());
        assertEquals(2, missing.exit());
        assertEquals("sac: error: " + dir.resolve("nope.bin") + ": no such file or directory", missing.err().strip());

        Path bad = dir.resolve("truncated.bin");
        byte[] good = Files.readAllBytes(Path.of("src/main/resources/io/sac4j/models/aidreams260K.bin"));
        Files.write(bad, java.util.Arrays.copyOf(good, good.length / 2));
        Path tok = Path.of("src/main/resources/io/sac4j/models/tok512.bin");
        var r = CliRunner.run("generate", "--model", bad.toString(), "--tokenizer", tok.toString());
        assertEquals(2, r.exit());
        String line = r.err().strip();
        assertTrue(line.startsWith("sac: error: " + bad + ": "), line);
        assertEquals(1, line.lines().count(), "one line, no stack trace: " + line);
        assertFalse(line.contains("Exception"), line);
    }
}
