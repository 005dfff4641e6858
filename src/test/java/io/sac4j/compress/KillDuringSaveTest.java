package io.sac4j.compress;

import io.sac4j.eval.ResultLog;
import io.sac4j.forward.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 during a save loses nothing that was saved: a separate JVM ({@link SaveLoopMain}, started with this JVM's
 * java) saves over one path again and again and is killed with {@link Process#destroyForcibly()}, at random moments
 * and, to be sure, while it is half-way through writing. Each time the file must load whole, hold the last save that
 * completed (or the one after it), and the temporary files a killed save leaves must not look like the target.
 * Results logs (appended line by line) must keep every line that was reported written and parse after a torn write.
 */
class KillDuringSaveTest {
    @TempDir
    Path dir;

    /** The child: this JVM's java and class path, with the flags the library needs. */
    private Process start(String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (a.startsWith("--add-modules") || a.startsWith("--enable-native-access")) cmd.add(a);
        cmd.addAll(List.of("-Xmx256m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), SaveLoopMain.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** Lines the child prints, as they come. */
    private static BlockingQueue<String> lines(Process p) {
        BlockingQueue<String> q = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) q.add(l);
            } catch (IOException ignored) {
                // the child was killed
            }
        });
        return q;
    }

    private static String next(BlockingQueue<String> q, Process p) throws InterruptedException {
        String l = q.poll(60, TimeUnit.SECONDS);
        assertNotNull(l, "the child printed nothing for 60 s (alive: " + p.isAlive() + ")");
        return l;
    }

    private static void kill(Process p) throws InterruptedException {
        p.destroyForcibly();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the killed child did not exit");
    }

    @Test
    void sacFilesSurviveKillNine() throws Exception {
        Path target = dir.resolve("ctx.sac");
        SplittableRandom rnd = new SplittableRandom(7);
        int debrisSeen = 0;
        try (CpuBackend backend = new CpuBackend(1)) {
            for (int round = 0; round < 5; round++) {
                boolean pause = round % 2 == 1; // odd rounds: killed inside a write for sure
                int first = round * 1000;
                Process p = start("sac", target.toString(), Integer.toString(first), pause ? "pause" : "run");
                BlockingQueue<String> out = lines(p);
                int lastSaved = -1;
                try {
                    String l = next(out, p);
                    assertEquals("saved " + first, l);
                    lastSaved = first;
                    if (pause) {
                        for (l = next(out, p); l.startsWith("saved "); l = next(out, p)) lastSaved = Integer.parseInt(l.substring(6));
                        assertEquals("mid " + (lastSaved + 1), l);
                    } else {
                        Thread.sleep(rnd.nextInt(400));
                    }
                } finally {
                    kill(p);
                }
                for (String l; (l = out.poll()) != null; ) if (l.startsWith("saved ")) lastSaved = Integer.parseInt(l.substring(6));

                CompressedContext ctx = SacFile.load(target, backend, SaveLoopMain.CONFIG, null, null);
                int gen = ctx.ratio() - 1;
                assertTrue(gen >= lastSaved && gen <= lastSaved + 1, "round " + round + ": generation " + gen + " after " + lastSaved);
                if (pause) assertEquals(lastSaved, gen, "the save killed half-way left the previous file in place");
                for (int layer = 0; layer < SaveLoopMain.CONFIG.nLayers(); layer++) {
                    float[][] kv = ctx.cache().ownRows(layer);
                    for (int i = 0; i < kv[0].length; i += 61) {
                        assertEquals(SaveLoopMain.value(gen, layer, i), kv[0][i]);
                        assertEquals(-SaveLoopMain.value(gen, layer, i), kv[1][i]);
                    }
                }
                // what a killed save leaves is a hidden temporary file that no *.sac pattern picks up
                try (Stream<Path> s = Files.list(dir)) {
                    for (Path f : s.toList()) {
                        String name = f.getFileName().toString();
                        if (f.equals(target)) continue;
                        assertTrue(name.startsWith(".ctx.sac.") && name.endsWith(".tmp"), "unexpected file " + name);
                        assertFalse(name.endsWith(".sac"));
                        debrisSeen++;
                    }
                }
            }
        }
        assertTrue(debrisSeen > 0, "no kill landed inside a save (the half-way kills must leave a temporary file)");
    }

    @Test
    void resultLogsSurviveKillNine() throws Exception {
        Path log = dir.resolve("results.jsonl");
        SplittableRandom rnd = new SplittableRandom(11);
        int next = 0;
        for (int round = 0; round < 3; round++) {
            Process p = start("log", log.toString(), Integer.toString(next));
            BlockingQueue<String> out = lines(p);
            int lastWritten = next - 1;
            try {
                for (int i = 0; i < 3; i++) lastWritten = Integer.parseInt(next(out, p).substring(6));
                Thread.sleep(rnd.nextInt(60));
            } finally {
                kill(p);
            }
            for (String l; (l = out.poll()) != null; ) lastWritten = Integer.parseInt(l.substring(6));

            // every line reported written is there, in order, once; a torn last line is skipped, not an error
            List<ResultLog.Record> records = ResultLog.read(log);
            assertTrue(records.size() >= lastWritten + 1, "round " + round + ": " + records.size() + " records, "
                    + (lastWritten + 1) + " were reported written");
            for (int i = 0; i < records.size(); i++) {
                assertEquals("q" + i, records.get(i).questionId());
                assertEquals(SaveLoopMain.prediction(i), records.get(i).prediction());
            }
            next = records.size();
        }
        // the next writer repairs a torn tail before appending
        try (ResultLog.Writer w = ResultLog.append(log)) {
            w.write(ResultLog.Record.of("sac", "5x", "SQuAD", "q" + next, "last", List.of("last"), null));
        }
        List<ResultLog.Record> all = ResultLog.read(log);
        assertEquals(next + 1, all.size());
        assertEquals("q" + next, all.getLast().questionId());
        assertTrue(Files.readString(log).endsWith("\n"));
    }
}
