package io.sac4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Awkward input through the command line: each run ends with exit code 0 and a result, or exit code 2 and one line
 * "sac: error: ..." that says what is wrong (and names the file when there is one).
 */
class BadCliInputTest {
    @TempDir
    Path dir;

    private Path file(String name, byte[] content) throws Exception {
        return Files.write(dir.resolve(name), content);
    }

    private Path file(String name, String content) throws Exception {
        return file(name, content.getBytes(StandardCharsets.UTF_8));
    }

    private static void assertError(CliRunner.Result r, String... parts) {
        assertEquals(2, r.exit(), r.err());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.startsWith("sac: error: "), err);
        for (String p : parts) assertTrue(err.contains(p), () -> "\"" + err + "\" lacks \"" + p + "\"");
    }

    @Test
    void ratiosBelowOneOrNotNumbersAreUsageErrors() throws Exception {
        Path ctx = file("c.txt", "Some context.");
        for (String r : new String[]{"0", "-1", "-2147483648", "abc", "1.5", ""}) {
            assertError(CliRunner.run("compress", "--device", "cpu", "--ratio", r, "--context", ctx.toString(),
                    "-o", dir.resolve("x.sac").toString()), "--ratio");
        }
        assertTrue(Files.notExists(dir.resolve("x.sac")));
    }

    @Test
    void emptyAndOneTokenContexts() throws Exception {
        Path empty = file("empty.txt", ""), out = dir.resolve("one.sac");
        assertError(CliRunner.run("compress", "--device", "cpu", "--context", empty.toString(), "-o", out.toString()),
                empty + ": is empty: nothing to compress");
        // one character of context still compresses (BOS + the template + it) and can be asked
        Path one = file("one.txt", "x");
        var c = CliRunner.run("compress", "--device", "cpu", "--context", one.toString(), "-o", out.toString(), "--quiet");
        assertEquals(0, c.exit(), c.err());
        var a = CliRunner.run("ask", "--device", "cpu", "--compressed", out.toString(), "--question", "What?", "-n", "2", "--quiet");
        assertEquals(0, a.exit(), a.err());
        assertTrue(a.out().startsWith("Q: What?\nA: "), a.out());
    }

    @Test
    void aQuestionLongerThanTheModelsWindowIsRefused() throws Exception {
        Path ctx = file("c.txt", "The night shift belonged to a small machine called Lumen."), out = dir.resolve("c.sac");
        assertEquals(0, CliRunner.run("compress", "--device", "cpu", "--context", ctx.toString(), "-o", out.toString(), "--quiet").exit());
        var r = CliRunner.run("ask", "--device", "cpu", "--compressed", out.toString(), "--question", "why ".repeat(300), "--quiet");
        assertError(r, "more than the model's context of 128 tokens");
        var ok = CliRunner.run("ask", "--device", "cpu", "--compressed", out.toString(), "--question", "Why?", "-n", "2", "--quiet");
        assertEquals(0, ok.exit(), ok.err());
    }

    @Test
    void textThatIsNotUtf8IsRefusedNamingTheFile() throws Exception {
        Path out = dir.resolve("c.sac");
        // a lone continuation byte, an overlong NUL, a UTF-16 surrogate encoded in UTF-8 (CESU), Latin-1 text
        byte[][] bad = {{'a', (byte) 0x80}, {'a', (byte) 0xc0, (byte) 0x80}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
                {'c', 'a', 'f', (byte) 0xe9}};
        for (int i = 0; i < bad.length; i++) {
            Path f = file("bad" + i + ".txt", bad[i]);
            assertError(CliRunner.run("compress", "--device", "cpu", "--context", f.toString(), "-o", out.toString()),
                    f + ": is not valid UTF-8 text");
        }
        Path ctx = file("c.txt", "Some context.");
        assertEquals(0, CliRunner.run("compress", "--device", "cpu", "--context", ctx.toString(), "-o", out.toString(), "--quiet").exit());
        Path q = file("q.txt", new byte[]{'W', 'h', 'o', (byte) 0xff, '?', '\n'});
        assertError(CliRunner.run("ask", "--device", "cpu", "--compressed", out.toString(), "--questions", q.toString()),
                q + ": is not valid UTF-8 text");
    }

    @Test
    void nulBytesAreOrdinaryText() throws Exception {
        Path ctx = file("nul.txt", "before\u0000after\u0000 and more.\n"), out = dir.resolve("nul.sac");
        var c = CliRunner.run("compress", "--device", "cpu", "--context", ctx.toString(), "-o", out.toString(), "--quiet");
        assertEquals(0, c.exit(), c.err());
        Path q = file("q.txt", "What is \u0000?\n");
        var a = CliRunner.run("ask", "--device", "cpu", "--compressed", out.toString(), "--questions", q.toString(), "-n", "2", "--json");
        assertEquals(0, a.exit(), a.err());
        // the JSON output escapes the NUL of the question
        assertTrue(a.out().contains("\"question\":\"What is \\u0000?\""), a.out());
    }

    @Test
    void aMissingOrEmptyOrForeignCompressedFileIsAnError() throws Exception {
        assertError(CliRunner.run("ask", "--device", "cpu", "--compressed", dir.resolve("absent.sac").toString(), "--question", "x"),
                "absent.sac: no such file");
        Path empty = file("empty.sac", new byte[0]);
        assertError(CliRunner.run("ask", "--device", "cpu", "--compressed", empty.toString(), "--question", "x"),
                empty + ": not a .sac file (it is empty)");
        Path text = file("text.sac", "hello");
        assertError(CliRunner.run("ask", "--device", "cpu", "--compressed", text.toString(), "--question", "x"),
                text + ": not a .sac file (bad magic)");
        assertError(CliRunner.run("ask", "--device", "cpu", "--compressed", dir.toString(), "--question", "x"),
                dir + ": is a directory");
    }
}
