package io.sac4j.fuzz;

import io.sac4j.SacException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The fuzz harness's engine: how many cases, from which seed, and how one case is judged.
 *
 * <p>A case passes when the parser returns normally or throws a {@link SacException} whose message is one line
 * naming a file of the case; it fails on any other throwable (another RuntimeException, OutOfMemoryError,
 * StackOverflowError), on taking longer than {@link #CASE_TIMEOUT_S} seconds (a hang), and on allocating more heap
 * than {@link #allocationBound} allows (a size taken from the file and believed: with a large heap that is no
 * OutOfMemoryError, but it would be one on a smaller heap or a hostile file). Each case runs on one worker thread per
 * target, so its allocations can be counted and a hang cannot block the test thread.
 *
 * <p>Failing inputs are written to {@code target/fuzz-findings/<target>/} (the message names the file); once fixed,
 * they belong in {@code src/test/resources/fixtures/fuzz/regressions/<target>/}, where {@link RegressionReplayTest}
 * replays them on every run.
 */
final class Fuzz {
    /** {@code -Dsac.fuzz.seed=N} replays another run; the default keeps CI deterministic. */
    static final long SEED = Long.getLong("sac.fuzz.seed", 0x5AC4_F022L);
    /** {@code -Dsac.long=true}: fifty times as many cases. */
    static final int SCALE = Boolean.getBoolean("sac.long") ? 50 : 1;
    /** Cases per target per run in the default suite. */
    static final int CASES = 1000;
    static final int CASE_TIMEOUT_S = 10;
    static final Path FINDINGS = Path.of("target", "fuzz-findings");
    static final Path REGRESSIONS = Path.of("src", "test", "resources", "fixtures", "fuzz", "regressions");

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private Fuzz() {
    }

    /** Heap a case may allocate: generous for real work on these small inputs, far below a believed huge size. */
    static long allocationBound(int inputBytes) {
        return (96L << 20) + 64L * inputBytes;
    }

    /** A random source for one target: the run's seed mixed with the target's name, so targets do not share draws. */
    static SplittableRandom random(String target) {
        return new SplittableRandom(SEED * 31 + target.hashCode());
    }

    /** What one case did. */
    record Outcome(boolean ok, String refusal, Throwable bad, long allocated, boolean timedOut) {
    }

    /** Runs cases of one target on a daemon worker thread, each with a timeout and an allocation count. */
    static final class Runner implements AutoCloseable {
        private final String target;
        private ExecutorService worker;
        final List<String> failures = new ArrayList<>();
        int cases, refused, accepted;

        Runner(String target) {
            this.target = target;
            this.worker = newWorker();
        }

        private ExecutorService newWorker() {
            return Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "fuzz-" + target);
                t.setDaemon(true);
                return t;
            });
        }

        /**
         * Runs {@code body} on the input {@code input} (already written where the target reads it) and records a
         * failure, with the input saved, when the outcome is not clean.
         *
         * @param what     a description of the seed and mutation, for the failure message
         * @param fileName the name to save a failing input under (its extension tells the replay how to run it)
         * @param workDir  errors must name a file under this directory
         */
        Outcome run(String what, String fileName, byte[] input, Path workDir, Case body) {
            cases++;
            Future<Outcome> f = worker.submit(() -> {
                long a0 = THREADS.getCurrentThreadAllocatedBytes();
                try {
                    body.run();
                    return new Outcome(true, null, null, THREADS.getCurrentThreadAllocatedBytes() - a0, false);
                } catch (SacException e) {
                    return new Outcome(false, e.getMessage(), null, THREADS.getCurrentThreadAllocatedBytes() - a0, false);
                } catch (Throwable t) {
                    return new Outcome(false, null, t, THREADS.getCurrentThreadAllocatedBytes() - a0, false);
                }
            });
            Outcome o;
            try {
                o = f.get(CASE_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                f.cancel(true);
                // the stuck thread is abandoned (a daemon); later cases get a fresh one
                worker.shutdownNow();
                worker = newWorker();
                o = new Outcome(false, null, null, 0, true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } catch (ExecutionException e) {
                o = new Outcome(false, null, e.getCause(), 0, false);
            }
            String problem = judge(o, input.length, workDir);
            if (problem == null) {
                if (o.ok()) accepted++;
                else refused++;
            } else if (failures.size() < 25) {
                failures.add(printable(what + ": " + problem) + " [input saved as " + save(target, fileName, input) + "]");
            } else if (failures.size() == 25) {
                failures.add("... more failures not listed");
            }
            return o;
        }

        private static String judge(Outcome o, int inputBytes, Path workDir) {
            if (o.timedOut()) return "no result after " + CASE_TIMEOUT_S + " s (hang?)";
            if (o.bad() != null) return "threw " + describe(o.bad());
            if (o.allocated() > allocationBound(inputBytes))
                return "allocated " + (o.allocated() >> 20) + " MiB for a " + inputBytes + "-byte input"
                        + (o.refusal() != null ? " before refusing it: " + o.refusal() : "");
            if (o.refusal() != null) {
                String m = o.refusal();
                if (m.contains("\n") || m.contains("\r")) return "message is not one line: " + m;
                if (!m.startsWith(workDir.toString())) return "message does not name the file: " + m;
            }
            return null;
        }

        /** Fails with every recorded problem (up to 25), or returns the counts. */
        String finish() {
            if (!failures.isEmpty())
                throw new AssertionError(target + ": " + failures.size() + " of " + cases + " cases failed (seed "
                        + SEED + "):\n  " + String.join("\n  ", failures));
            return String.format("%s: %d cases, %d accepted, %d refused cleanly", target, cases, accepted, refused);
        }

        @Override
        public void close() {
            worker.shutdownNow();
        }
    }

    @FunctionalInterface
    interface Case {
        void run() throws Exception;
    }

    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder(t.toString().replace('\n', ' '));
        StackTraceElement[] st = t.getStackTrace();
        for (int i = 0; i < Math.min(4, st.length); i++) b.append(" at ").append(st[i]);
        return b.toString();
    }

    /** Messages may quote mutated bytes: control characters would garble the report. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(s.length());
        s.codePoints().forEach(c -> b.append(c < 0x20 || c == 0x7f || (c >= 0xd800 && c < 0xe000) ? "\\u" + String.format("%04x", c)
                : new String(Character.toChars(c))));
        return b.toString();
    }

    static Path save(String target, String name, byte[] input) {
        try {
            Path dir = Files.createDirectories(FINDINGS.resolve(target));
            Path p = dir.resolve(name);
            Files.write(p, input);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void write(Path p, byte[] b) {
        try {
            Files.write(p, b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
