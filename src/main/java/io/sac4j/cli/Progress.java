package io.sac4j.cli;

import java.io.PrintStream;

/**
 * A one-line progress bar on stderr ("[#####.....] 2040/4096 tokens  812 tok/s  ETA 3s"), redrawn in place at most
 * a few times a second. Drawn only on a terminal, so logs and pipes stay clean.
 */
final class Progress {
    private final PrintStream err;
    private final String unit;
    private final boolean enabled;
    private final long start = System.nanoTime();
    private long lastDraw;
    private boolean drawn;

    Progress(String unit, boolean enabled) {
        this.err = System.err;
        this.unit = unit;
        this.enabled = enabled && System.console() != null;
    }

    void update(long done, long total) {
        if (!enabled) return;
        long now = System.nanoTime();
        if (done < total && now - lastDraw < 200_000_000L) return;
        lastDraw = now;
        double secs = Math.max((now - start) * 1e-9, 1e-9), rate = done / secs;
        int width = 30, filled = total == 0 ? width : (int) (width * done / total);
        String eta = rate > 0 && done < total ? String.format("  ETA %.0fs", (total - done) / rate) : "";
        // slow items (questions of an eval) need a decimal to show a rate at all
        err.printf(java.util.Locale.ROOT, "\r[%s%s] %d/%d %s  %." + (rate < 10 ? 1 : 0) + "f %s/s%s   ",
                "#".repeat(filled), ".".repeat(width - filled), done, total, unit, rate, unit, eta);
        drawn = true;
    }

    /** Ends the bar's line (if one was drawn). */
    void finish() {
        if (drawn) err.println();
        drawn = false;
    }
}
