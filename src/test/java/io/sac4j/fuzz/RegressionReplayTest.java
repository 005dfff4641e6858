package io.sac4j.fuzz;

import io.sac4j.fuzz.Targets.Env;
import io.sac4j.fuzz.Targets.Target;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replays every input that once broke a parser ({@code fixtures/fuzz/regressions/<target>/<seed>__<what>}): each
 * must now load or fail cleanly, judged exactly as in {@link ParserFuzzTest}. The seed part of the name says which
 * seed's companion files (a model directory, say) the input goes with.
 */
class RegressionReplayTest {
    static Env env;

    @TempDir
    static Path work;

    @BeforeAll
    static void open() {
        env = new Env();
    }

    @AfterAll
    static void close() {
        env.close();
    }

    @Test
    void everySavedInputFailsCleanly() throws IOException {
        List<Path> dirs;
        try (Stream<Path> s = Files.list(Fuzz.REGRESSIONS)) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        }
        assertFalse(dirs.isEmpty(), "no regression inputs under " + Fuzz.REGRESSIONS);
        int replayed = 0;
        StringBuilder report = new StringBuilder();
        for (Path dir : dirs) {
            Target t = Targets.byName(dir.getFileName().toString(), env, work);
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(Files::isRegularFile).sorted().toList();
            }
            try (Fuzz.Runner runner = new Fuzz.Runner(t.name)) {
                for (Path f : files) {
                    String name = f.getFileName().toString();
                    int cut = name.indexOf("__");
                    assertTrue(cut > 0, "regression file " + f + " must be named <seed>__<what>");
                    Targets.Seed seed = t.seed(name.substring(0, cut));
                    byte[] input = Fuzz.read(f);
                    runner.run(f.toString(), name, input, t.work, () -> t.run(seed, input));
                    replayed++;
                }
                report.append(runner.finish()).append('\n');
            }
        }
        System.out.print(report);
        assertTrue(replayed > 0);
    }
}
