package io.sac4j.forward.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads for the kernels: worker 0 is the caller, workers 1..threads-1 are daemon threads that
 * spin briefly and then park between jobs. A decode step runs ~10 parallel ops per layer, each only tens of
 * microseconds long, so handing work over must cost far less than an executor's queue and futures: here it is one
 * volatile write and (only for a parked worker) an unpark.
 * <p>
 * One job runs at a time. A call made while a job is running (from another thread, or nested inside a job) does not
 * wait: it runs every share itself, in order, which gives the same results because shares are disjoint.
 */
public final class Parallel implements AutoCloseable {
    /** Body of a parallel loop over [lo, hi). */
    @FunctionalInterface
    public interface Range {
        void run(int lo, int hi);
    }

    /** A job run once by each worker {@code w} in [0, threads). */
    @FunctionalInterface
    public interface Job {
        void run(int w);
    }

    /** How long an idle worker spins before parking, and a waiting caller before yielding (nanoseconds). */
    private static final long SPIN_NANOS = 200_000;

    private final int threads;
    private final Thread[] workers;
    private final AtomicBoolean busy = new AtomicBoolean();
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile Job job;
    private volatile int generation;
    private volatile boolean closed;

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1: " + threads);
        this.threads = threads;
        workers = new Thread[threads - 1];
        for (int i = 1; i < threads; i++) {
            int w = i;
            Thread t = new Thread(() -> workerLoop(w), "sac4j-cpu-" + w);
            t.setDaemon(true);
            workers[i - 1] = t;
            t.start();
        }
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code job.run(w)} for every worker w concurrently (w = 0 on the calling thread) and waits for all. */
    public void onAll(Job job) {
        if (threads == 1 || closed || !busy.compareAndSet(false, true)) {
            for (int w = 0; w < threads; w++) job.run(w);
            return;
        }
        try {
            failure.set(null);
            pending.set(threads - 1);
            this.job = job;
            generation++; // publishes job (volatile write; only this thread writes it while busy)
            for (Thread t : workers) LockSupport.unpark(t);
            Throwable mine = null;
            try {
                job.run(0);
            } catch (Throwable e) {
                mine = e;
            }
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (pending.get() > 0) {
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else Thread.yield();
            }
            this.job = null;
            Throwable e = mine != null ? mine : failure.get();
            if (e instanceof RuntimeException re) throw re;
            if (e instanceof Error err) throw err;
            if (e != null) throw new IllegalStateException(e);
        } finally {
            busy.set(false);
        }
    }

    private void workerLoop(int w) {
        int seen = 0;
        while (!closed) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (generation == seen && !closed) {
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            if (closed) return;
            seen = generation;
            try {
                job.run(w);
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    /** Runs body over [0, n) in at most threads() static shares, each a multiple of {@code grain} (but the last). */
    public void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        int units = (n + grain - 1) / grain;
        int shares = Math.min(threads, units);
        if (shares <= 1) {
            body.run(0, n);
            return;
        }
        onAll(w -> {
            if (w >= shares) return;
            int lo = Math.min(n, (int) ((long) units * w / shares) * grain);
            int hi = Math.min(n, (int) ((long) units * (w + 1) / shares) * grain);
            if (lo < hi) body.run(lo, hi);
        });
    }

    /**
     * Runs body(i, i + 1) for every i in [0, n), handing out indices dynamically: for work items of uneven cost
     * (causal attention blocks, whose cost grows with position).
     */
    public void forEachDynamic(int n, Range body) {
        if (n <= 0) return;
        if (threads == 1 || n == 1) {
            body.run(0, n);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        onAll(w -> {
            for (int i; (i = next.getAndIncrement()) < n; ) body.run(i, i + 1);
        });
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : workers) LockSupport.unpark(t);
    }
}
