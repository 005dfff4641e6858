package io.sac4j.cli;

import io.sac4j.load.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** compress / ask / demo end to end on the bundled model, through the CLI entry point. */
class SacCommandsTest {
    private static final String CONTEXT = "The night shift at the observatory belonged to a small machine called Lumen. "
            .repeat(40);

    private static Path context(Path dir) throws Exception {
        Path f = dir.resolve("context.txt");
        Files.writeString(f, CONTEXT);
        return f;
    }

    @Test
    void compressThenAskAnswersFromTheSavedFile(@TempDir Path dir) throws Exception {
        Path sac = dir.resolve("ctx.sac");
        var c = CliRunner.run("compress", "--device", "cpu", "--ratio", "5", "--context", context(dir).toString(), "-o", sac.toString(), "--quiet");
        assertEquals(0, c.exit(), c.err());
        assertTrue(Files.size(sac) > 0);
        // "<file>: training-free SAC ratio 5, N tokens in, M rows kept (1/x), KV a -> b, t tokens/s"
        var m = java.util.regex.Pattern.compile("(\\d+) tokens in, (\\d+) rows kept").matcher(c.out());
        assertTrue(m.find(), c.out());
        int n = Integer.parseInt(m.group(1)), rows = Integer.parseInt(m.group(2));
        assertTrue(n > 510, "the context spans several chunks: " + n);
        assertEquals(io.sac4j.compress.Anchors.count(n, 5), rows);

        var a1 = CliRunner.run("ask", "--device", "cpu", "--compressed", sac.toString(), "--question", "Who was Lumen?",
                "--question", "Where?", "-n", "12", "--json");
        assertEquals(0, a1.exit(), a1.err());
        Map<String, Object> doc = Json.parseObject(a1.out().strip(), "ask output");
        assertEquals((long) rows, doc.get("rows"));
        assertEquals((long) n, doc.get("context_tokens"));
        List<?> answers = (List<?>) doc.get("answers");
        assertEquals(2, answers.size());
        Map<?, ?> first = (Map<?, ?>) answers.get(0);
        assertEquals("Who was Lumen?", first.get("question"));
        assertTrue(((List<?>) first.get("ids")).size() <= 12);

        // the same question again, asked from a questions file, gives the same answer (the file is reused, not recomputed)
        Path qs = dir.resolve("q.txt");
        Files.writeString(qs, "Who was Lumen?\n\n");
        var a2 = CliRunner.run("ask", "--device", "cpu", "--compressed", sac.toString(), "--questions", qs.toString(), "-n", "12", "--quiet");
        assertEquals(0, a2.exit(), a2.err());
        assertEquals("Q: Who was Lumen?\nA: " + first.get("answer") + "\n", a2.out());

        // more questions than one batch (decoded together, 8 at a time): the same answers as asked one by one
        List<String> many = new java.util.ArrayList<>(List.of("Who was Lumen?"));
        for (int i = 1; i < 9; i++) many.add("What did Lumen count " + i + " times?");
        Files.writeString(qs, String.join("\n", many) + "\n");
        var a3 = CliRunner.run("ask", "--device", "cpu", "--compressed", sac.toString(), "--questions", qs.toString(), "-n", "12", "--quiet");
        assertEquals(0, a3.exit(), a3.err());
        var alone = CliRunner.run("ask", "--device", "cpu", "--compressed", sac.toString(), "--question", many.get(8), "-n", "12", "--quiet");
        assertEquals(0, alone.exit(), alone.err());
        assertTrue(a3.out().startsWith("Q: Who was Lumen?\nA: " + first.get("answer") + "\n"), a3.out());
        assertTrue(a3.out().endsWith(alone.out()), a3.out() + " does not end with " + alone.out());
        for (String q : many) assertEquals(1, a3.out().lines().filter(("Q: " + q)::equals).count(), q + " in " + a3.out());
    }

    @Test
    void baselinesAreSavedAndAnsweredLikeCompressedContexts(@TempDir Path dir) throws Exception {
        Path full = dir.resolve("full.sac"), last = dir.resolve("last.sac");
        var f = CliRunner.run("compress", "--device", "cpu", "--baseline", "full", "--context", context(dir).toString(), "-o", full.toString(), "--quiet");
        assertEquals(0, f.exit(), f.err());
        assertTrue(f.out().contains("baseline full"), f.out());
        var l = CliRunner.run("compress", "--device", "cpu", "--baseline", "last", "--ratio", "15", "--context", context(dir).toString(), "-o", last.toString(), "--quiet");
        assertEquals(0, l.exit(), l.err());
        assertTrue(Files.size(full) > Files.size(last) * 10, "full context keeps every row");
        var a = CliRunner.run("ask", "--device", "cpu", "--compressed", last.toString(), "--question", "Who?", "-n", "4", "--quiet");
        assertEquals(0, a.exit(), a.err());
        assertTrue(a.out().startsWith("Q: Who?\nA: "), a.out());
    }

    @Test
    void badInputIsAOneLineErrorAndNothingIsOverwritten(@TempDir Path dir) throws Exception {
        Path sac = dir.resolve("ctx.sac");
        assertEquals(0, CliRunner.run("compress", "--device", "cpu", "--context", context(dir).toString(), "-o", sac.toString(), "--quiet").exit());
        byte[] before = Files.readAllBytes(sac);

        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "  \n");
        var e = CliRunner.run("compress", "--device", "cpu", "--context", empty.toString(), "-o", sac.toString());
        assertEquals(2, e.exit());
        assertEquals("sac: error: " + empty + ": is empty: nothing to compress", e.err().strip());

        Path latin1 = dir.resolve("latin1.txt");
        Files.write(latin1, new byte[]{'c', 'a', 'f', (byte) 0xe9, ' ', 'x'});
        var u = CliRunner.run("compress", "--device", "cpu", "--context", latin1.toString(), "-o", sac.toString());
        assertEquals(2, u.exit());
        assertEquals("sac: error: " + latin1 + ": is not valid UTF-8 text", u.err().strip());

        assertEquals(2, CliRunner.run("compress", "--ratio", "0", "--context", context(dir).toString(), "-o", sac.toString()).exit());
        assertEquals(2, CliRunner.run("compress", "--context", context(dir).toString()).exit(), "missing -o");
        assertArrayEquals(before, Files.readAllBytes(sac), "failed runs leave the saved file as it was");

        Path corrupt = dir.resolve("corrupt.sac");
        Files.write(corrupt, java.util.Arrays.copyOf(before, before.length - 100));
        var c = CliRunner.run("ask", "--device", "cpu", "--compressed", corrupt.toString(), "--question", "x");
        assertEquals(2, c.exit());
        assertTrue(c.err().startsWith("sac: error: " + corrupt + ": truncated"), c.err());
        assertEquals(1, c.err().strip().lines().count());

        var noQ = CliRunner.run("ask", "--compressed", sac.toString());
        assertEquals(2, noQ.exit());
        assertTrue(noQ.err().contains("--question"), noQ.err());
    }

    @Test
    void askRefusesAContextMadeWithAnAdapterWhenNoneIsGiven(@TempDir Path dir) throws Exception {
        Path adapter = Path.of("src/test/resources/fixtures/sac/adapters").toAbsolutePath();
        Path pt;
        try (var files = Files.list(adapter)) {
            pt = files.filter(p -> p.getFileName().toString().startsWith("aidreams") && p.toString().endsWith("r5.pt"))
                    .findFirst().orElse(null);
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(pt != null, "no aidreams ratio-5 adapter fixture");
        Path sac = dir.resolve("a.sac");
        var c = CliRunner.run("compress", "--device", "cpu", "--adapter", pt.toString(), "--ratio", "5", "--context", context(dir).toString(), "-o", sac.toString(), "--quiet");
        assertEquals(0, c.exit(), c.err());
        assertTrue(c.out().contains(": SAC ratio 5"), c.out());
        var a = CliRunner.run("ask", "--device", "cpu", "--compressed", sac.toString(), "--question", "x");
        assertEquals(2, a.exit());
        assertTrue(a.err().contains("pass it with --adapter"), a.err());
        var ok = CliRunner.run("ask", "--device", "cpu", "--adapter", pt.toString(), "--compressed", sac.toString(), "--question", "x", "-n", "3", "--quiet");
        assertEquals(0, ok.exit(), ok.err());
        // an adapter trained for ratio 5 cannot compress at 15
        var wrong = CliRunner.run("compress", "--device", "cpu", "--adapter", pt.toString(), "--ratio", "15", "--context", context(dir).toString(), "-o", dir.resolve("b.sac").toString());
        assertEquals(2, wrong.exit());
        assertTrue(wrong.err().contains("trained for another ratio"), wrong.err());
    }

    @Test
    void demoRunsTheWholePipelineWithNoArguments() {
        var d = CliRunner.run("demo", "--device", "cpu", "-n", "6");
        assertEquals(0, d.exit(), d.err());
        String out = d.out();
        assertTrue(out.contains("full context"), out);
        assertTrue(out.matches("(?s).*SAC 1/5 +\\d+ .* 80% .*"), out);
        assertTrue(out.contains("SAC 1/15"), out);
        assertEquals(3, out.lines().filter(l -> l.startsWith("Q: ")).count(), out);
        assertEquals(9, out.lines().filter(l -> l.matches("  (full|SAC 1/5|SAC 1/15) +\\| .*")).count(), out);
    }
}
