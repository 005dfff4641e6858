package io.sac4j.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/** Runs the CLI in-process and captures what it prints. */
final class CliRunner {
    record Result(int exit, String out, String err) {
    }

    static Result run(String... args) {
        return capture(() -> Main.run(args));
    }

    /** One command that need not be registered in {@link Main} (e.g. a stub that fails on purpose). */
    static Result run(Command cmd, String... args) {
        return capture(() -> Main.run(cmd, args));
    }

    private static synchronized Result capture(Supplier<Integer> run) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = run.get();
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private CliRunner() {
    }
}
