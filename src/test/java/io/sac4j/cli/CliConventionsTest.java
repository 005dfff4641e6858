package io.sac4j.cli;

import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What every command shares: option names and letters, --quiet, --debug, --version, --help, and the exit codes
 * (0 ok, 1 runtime failure, 2 usage or bad input, each error one line "sac: error: ...").
 */
class CliConventionsTest {
    private static Options allOptions(Command c) {
        Options o = c.options();
        Common.addTo(o);
        return o;
    }

    /** An error run: the exit code and one line "sac: error: ..." on stderr, with every part named. */
    private static void assertError(int code, CliRunner.Result r, String... parts) {
        assertEquals(code, r.exit(), r.err());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.startsWith("sac: error: "), err);
        for (String p : parts) assertTrue(err.contains(p), () -> "\"" + err + "\" lacks \"" + p + "\"");
        assertEquals("", r.out(), "nothing on stdout");
    }

    @Test
    void anOptionHasTheSameLetterAndArityInEveryCommand() {
        Map<String, Option> seen = new HashMap<>();
        Map<String, String> where = new HashMap<>();
        for (Command c : Main.commands()) {
            for (Option o : allOptions(c).getOptions()) {
                assertNotNull(o.getLongOpt(), c.name() + ": every option has a long name: -" + o.getOpt());
                Option first = seen.putIfAbsent(o.getLongOpt(), o);
                if (first == null) {
                    where.put(o.getLongOpt(), c.name());
                    continue;
                }
                String what = "--" + o.getLongOpt() + " in " + c.name() + " and " + where.get(o.getLongOpt());
                assertEquals(first.getOpt(), o.getOpt(), what + ": same short letter");
                // eval's --json names a summary file (its table owns stdout); elsewhere --json is a flag
                if (!o.getLongOpt().equals("json")) assertEquals(first.hasArg(), o.hasArg(), what + ": same arity");
            }
        }
        // and a letter means one thing
        Map<String, String> letters = new HashMap<>();
        for (Option o : seen.values()) {
            if (o.getOpt() == null) continue;
            String other = letters.putIfAbsent(o.getOpt(), o.getLongOpt());
            assertTrue(other == null || other.equals(o.getLongOpt()), "-" + o.getOpt() + " is --" + other + " and --" + o.getLongOpt());
        }
        assertEquals("m", seen.get("model").getOpt());
        assertEquals("n", seen.get("max-tokens").getOpt());
        assertEquals("o", seen.get("output").getOpt());
        assertEquals("r", seen.get("ratio").getOpt());
        assertEquals("t", seen.get("threads").getOpt());
    }

    @Test
    void everyCommandHasTheSharedOptionsAndTheModelOnesWhereItRunsAModel() {
        for (Command c : Main.commands()) {
            Options o = allOptions(c);
            for (String s : List.of("help", "quiet", "debug", "threads", "version"))
                assertTrue(o.hasLongOption(s), c.name() + " --" + s);
            if (!c.name().equals("synth")) {
                for (String s : List.of("model", "tokenizer", "device")) assertTrue(o.hasLongOption(s), c.name() + " --" + s);
            }
            if (Set.of("generate", "compress", "ask", "demo", "synth").contains(c.name()))
                assertFalse(o.getOption("json").hasArg(), c.name() + " --json is a flag");
        }
    }

    @Test
    void versionFromTheTopAndFromEveryCommand() {
        String expected = "sac " + Main.version() + "\n";
        for (String[] args : List.of(new String[]{"--version"}, new String[]{"-V"}, new String[]{"compress", "--version"},
                new String[]{"synth", "-V"}, new String[]{"ask", "-V"})) {
            var r = CliRunner.run(args);
            assertEquals(0, r.exit(), String.join(" ", args) + ": " + r.err());
            assertEquals(expected, r.out(), String.join(" ", args));
            assertEquals("", r.err());
        }
        assertFalse(Main.version().isBlank());
    }

    @Test
    void helpDocumentsTheExitCodesAndJson() {
        var top = CliRunner.run("--help");
        assertEquals(0, top.exit());
        assertTrue(top.out().contains("exit codes: 0 ok, 1 runtime failure, 2 usage error or bad input"), top.out());
        assertTrue(top.out().contains("--json"), top.out());
        for (Command c : Main.commands()) {
            var h = CliRunner.run(c.name(), "--help");
            assertEquals(0, h.exit(), c.name());
            assertTrue(h.out().contains("exit codes: 0 ok, 1 runtime failure, 2 usage"), h.out());
            assertTrue(h.out().contains("--json") && h.out().contains("--quiet") && h.out().contains("--version"), h.out());
        }
        assertEquals(2, CliRunner.run().exit(), "no command is a usage error");
    }

    @Test
    void quietLeavesStderrEmptyOnSuccessAndResultsOnStdout(@TempDir Path dir) throws Exception {
        Path ctx = Files.writeString(dir.resolve("c.txt"), "Lumen watched the sky all night."), sac = dir.resolve("c.sac");
        // the default device (auto) falls back to the CPU with a note, unless --quiet
        var g = CliRunner.run("generate", "-n", "3", "-q");
        var c = CliRunner.run("compress", "-c", ctx.toString(), "-o", sac.toString(), "-q");
        var a = CliRunner.run("ask", "-s", sac.toString(), "-Q", "Who?", "-n", "2", "-q");
        var d = CliRunner.run("demo", "-r", "15", "-n", "2", "-q");
        var s = CliRunner.run("synth", "-o", dir.resolve("m.gguf").toString(), "-q");
        for (var r : List.of(g, c, a, d, s)) {
            assertEquals(0, r.exit(), r.err());
            assertEquals("", r.err());
            assertFalse(r.out().isBlank(), "the result still prints");
        }
        assertTrue(a.out().startsWith("Q: Who?\nA: "), a.out());
        assertFalse(d.out().contains("Note:"), "--quiet drops the demo's note");
        assertTrue(d.out().contains("SAC 1/15"), d.out());
        // the same runs without --quiet do print notes on stderr
        var loud = CliRunner.run("compress", "--device", "cpu", "-c", ctx.toString(), "-o", sac.toString());
        assertTrue(loud.err().contains("model: ") && loud.err().contains("backend: cpu"), loud.err());
        assertEquals(c.out().replaceAll("[0-9]+ tokens/s", ""), loud.out().replaceAll("[0-9]+ tokens/s", ""),
                "--quiet changes stderr only");
        var loudAsk = CliRunner.run("ask", "--device", "cpu", "-s", sac.toString(), "-Q", "Who?", "-n", "2");
        assertTrue(loudAsk.err().contains("rows for"), loudAsk.err());
        assertEquals(a.out(), loudAsk.out());
    }

    @Test
    void debugAddsTheStackTraceToEveryKindOfError(@TempDir Path dir) {
        Path missing = dir.resolve("missing.txt");
        String[][] runs = {
                {"compress", "--device", "cpu", "-c", missing.toString(), "-o", dir.resolve("x.sac").toString()}, // bad input
                {"generate", "-n", "abc"},                                                                       // bad value
                {"generate", "--bogus"},                                                                         // parser
                {"synth", "--shape", "huge", "-o", dir.resolve("x").toString()},
        };
        for (String[] args : runs) {
            var plain = CliRunner.run(args);
            assertError(2, plain);
            String[] withDebug = java.util.Arrays.copyOf(args, args.length + 1);
            withDebug[args.length] = "--debug";
            var debug = CliRunner.run(withDebug);
            assertEquals(2, debug.exit());
            List<String> lines = debug.err().lines().toList();
            assertEquals(plain.err().strip(), lines.get(0), "the same message first");
            assertTrue(lines.size() > 2 && lines.stream().anyMatch(l -> l.startsWith("\tat ")), debug.err());
        }
        assertTrue(CliRunner.run(runs[0]).err().contains(missing + ": no such file"));
    }

    @Test
    void usageErrorsAndBadInputExitWith2InEveryCommand(@TempDir Path dir) throws Exception {
        Path ctx = Files.writeString(dir.resolve("c.txt"), "Some context.");
        assertError(2, CliRunner.run("nosuchcommand"), "unknown command 'nosuchcommand'");
        assertError(2, CliRunner.run("--bogus"), "unknown option '--bogus'");
        assertError(2, CliRunner.run("generate", "stray"), "unexpected argument 'stray'");
        assertError(2, CliRunner.run("generate", "--top-p", "2"), "--top-p");
        assertError(2, CliRunner.run("compress", "-c", ctx.toString()), "-o/--output");
        assertError(2, CliRunner.run("compress", "-o", dir.resolve("x.sac").toString()), "--context");
        assertError(2, CliRunner.run("ask", "-Q", "x"), "--compressed");
        assertError(2, CliRunner.run("ask", "-s", dir.resolve("none.sac").toString(), "-Q", "x", "--device", "cpu"), "none.sac: no such file");
        assertError(2, CliRunner.run("demo", "-r", "0"), "--ratio");
        assertError(2, CliRunner.run("demo", "--ratios", "x"), "--ratio");
        assertError(2, CliRunner.run("demo", "--device", "tpu"), "--device must be cpu or cuda");
        assertError(2, CliRunner.run("eval", "-r", "5"), "--data");
        assertError(2, CliRunner.run("eval", "--data", dir.resolve("none.json").toString()), "none.json");
        assertError(2, CliRunner.run("synth"), "-o");
        assertError(2, CliRunner.run("synth", "-o", dir.toString(), "--threads", "0"), "--threads");
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no failed run wrote anything");
        }
    }

    /** A command that fails in a way no input explains: the runtime-failure path. */
    private record Failing(RuntimeException thrown, Error error) implements Command {
        public String name() {
            return "failing";
        }

        public String description() {
            return "fails";
        }

        public Options options() {
            return new Options();
        }

        public int run(CommandLine line) {
            if (thrown != null) throw thrown;
            throw Objects.requireNonNull(error);
        }
    }

    @Test
    void runtimeFailuresExitWith1InOneLine() {
        var r = CliRunner.run(new Failing(new IllegalStateException("broken\ninvariant"), null));
        assertError(1, r, "java.lang.IllegalStateException: broken invariant");
        var d = CliRunner.run(new Failing(new IllegalStateException("broken"), null), "--debug");
        assertEquals(1, d.exit());
        assertTrue(d.err().lines().anyMatch(l -> l.contains("at io.sac4j.cli.CliConventionsTest")), d.err());
        var oom = CliRunner.run(new Failing(null, new OutOfMemoryError("Java heap space")));
        assertError(1, oom, "out of memory (Java heap space)", "-Xmx");
        // bad input stays 2 even when thrown from deep inside
        assertError(2, CliRunner.run(new Failing(new io.sac4j.SacException(Path.of("f.bin"), "bad header"), null)), "f.bin: bad header");
    }
}
