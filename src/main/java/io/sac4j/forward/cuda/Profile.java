package io.sac4j.forward.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.bytedeco.cuda.global.cudart.cuCtxSynchronize;

/**
 * Where the device time goes (system property sac.cuda.profile=true): every kernel launch and cuBLAS call is
 * synchronised before and after, so the wall time between is that op's alone, launch overhead included. The
 * totals are kept per op name and printed as one table on stderr when the backend closes. Synchronising every op
 * slows the whole run down: this is for finding the expensive ops, never for quoting speeds.
 */
final class Profile {
    private final Map<String, long[]> ops = new LinkedHashMap<>();  // name -> {calls, nanoseconds, first call's}
    private String current;
    private long started, first = -1, last;

    void start(String op) {
        Cu.check(cuCtxSynchronize(), "cuCtxSynchronize (before " + op + ")");
        current = op;
        started = System.nanoTime();
        if (first < 0) first = started;
    }

    void stop() {
        Cu.check(cuCtxSynchronize(), current);
        last = System.nanoTime();
        long[] a = ops.computeIfAbsent(current, k -> new long[3]);
        if (a[0]++ == 0) a[2] = last - started;
        a[1] += last - started;
    }

    /**
     * The table: ops by total time, each with its calls, total, share of the time spent in ops, its first call (a
     * kernel's first launch may load it, cuBLAS may pick its algorithm) and the mean of the later calls.
     */
    String report(String backend) {
        long sum = 0;
        for (long[] a : ops.values()) sum += a[1];
        List<Map.Entry<String, long[]>> rows = new ArrayList<>(ops.entrySet());
        rows.sort((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]));
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "sac.cuda.profile: %s; %.1f ms in device ops of %.1f ms from the first op to the last (the rest: host)%n",
                backend, sum / 1e6, first < 0 ? 0 : (last - first) / 1e6));
        s.append(String.format(Locale.ROOT, "%7s %9s %6s %9s %9s  %s%n", "calls", "total ms", "share", "first us", "then us", "op"));
        for (Map.Entry<String, long[]> e : rows) {
            long[] a = e.getValue();
            String then = a[0] > 1 ? String.format(Locale.ROOT, "%9.1f", (a[1] - a[2]) / 1e3 / (a[0] - 1)) : "";
            s.append(String.format(Locale.ROOT, "%7d %9.2f %5.1f%% %9.1f %9s  %s%n", a[0], a[1] / 1e6,
                    100.0 * a[1] / Math.max(1, sum), a[2] / 1e3, then, e.getKey()));
        }
        return s.toString();
    }
}
