package io.sac4j.forward.cuda;

import org.bytedeco.javacpp.SizeTPointer;

import java.lang.ref.Cleaner;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_OUT_OF_MEMORY;
import static org.bytedeco.cuda.global.cudart.cuMemAlloc;
import static org.bytedeco.cuda.global.cudart.cuMemFree;
import static org.bytedeco.cuda.global.cudart.cuMemGetInfo;

/**
 * The device memory of one backend. {@link io.sac4j.forward.Backend} has no free(), and Llama allocates its
 * activations per call, so a buffer or cache goes back when the Java object that owns it becomes unreachable (a
 * Cleaner queues it; the backend's thread takes it back at the next allocation) into a pool of same-size blocks
 * that the next forward call reuses. Every operation runs on the legacy default stream, so a reused block is
 * written only after the kernels that read it earlier. {@link #close} frees every block, live or pooled.
 */
final class DeviceMemory implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final long GRAIN = 512;               // sizes round up to this, so near sizes share a pool
    private static final long POOL_MAX = 256L << 20;     // larger blocks (KV caches) go straight back to the driver

    private final Map<Long, Long> live = new HashMap<>();             // every block from cuMemAlloc: address -> bytes
    private final Map<Long, ArrayDeque<Long>> pool = new HashMap<>(); // unused blocks by size
    private final Queue<long[]> released = new ConcurrentLinkedQueue<>();
    private boolean closed;

    /** A block that returns to the pool once {@code owner} is unreachable. */
    synchronized long alloc(long bytes, Object owner) {
        long size = round(bytes);
        long ptr = take(size);
        Queue<long[]> q = released;  // the action must not capture the owner
        CLEANER.register(owner, () -> q.add(new long[]{ptr, size}));
        return ptr;
    }

    /** A block kept until {@link #free} or {@link #close} (weights, scratch). */
    synchronized long allocKept(long bytes) {
        return take(round(bytes));
    }

    /** Returns a kept block to the driver now. */
    synchronized void free(long ptr) {
        if (closed || live.remove(ptr) == null) return;
        Cu.check(cuMemFree(ptr), "cuMemFree");
    }

    /** Bytes the backend holds on the device (live and pooled). */
    synchronized long bytesHeld() {
        drain();
        long n = 0;
        for (long b : live.values()) n += b;
        return n;
    }

    private static long round(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative allocation: " + bytes);
        return Math.max(GRAIN, (bytes + GRAIN - 1) / GRAIN * GRAIN);
    }

    private long take(long size) {
        if (closed) throw new IllegalStateException("the CUDA backend is closed");
        drain();
        ArrayDeque<Long> free = pool.get(size);
        if (free != null && !free.isEmpty()) return free.pop();
        long[] p = new long[1];
        int rc = cuMemAlloc(p, size);
        if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
            // unreachable buffers may not have been collected yet: collect, take them back, release the pool, retry
            System.gc();
            for (int i = 0; i < 20 && released.isEmpty(); i++) sleep();
            drain();
            trim();
            rc = cuMemAlloc(p, size);
            if (rc == CUDA_ERROR_OUT_OF_MEMORY)
                throw new CudaException("cuMemAlloc(" + mib(size) + ")", rc, Cu.describe(rc) + "; " + usage());
        }
        Cu.check(rc, "cuMemAlloc(" + mib(size) + ")");
        live.put(p[0], size);
        return p[0];
    }

    private void drain() {
        for (long[] b; (b = released.poll()) != null; ) {
            if (closed || !live.containsKey(b[0])) continue;
            if (b[1] > POOL_MAX) {
                live.remove(b[0]);
                Cu.check(cuMemFree(b[0]), "cuMemFree");
            } else {
                pool.computeIfAbsent(b[1], k -> new ArrayDeque<>()).push(b[0]);
            }
        }
    }

    /** Frees every pooled block. */
    private void trim() {
        for (ArrayDeque<Long> free : pool.values())
            for (long ptr : free) {
                live.remove(ptr);
                Cu.check(cuMemFree(ptr), "cuMemFree");
            }
        pool.clear();
    }

    private static void sleep() {
        try {
            Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String mib(long bytes) {
        return String.format("%.1f MiB", bytes / 1048576.0);
    }

    private String usage() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            if (cuMemGetInfo(free, total) != 0) return "backend holds " + mib(bytesHeldNow());
            return mib(free.get()) + " free of " + mib(total.get()) + ", this backend holds " + mib(bytesHeldNow());
        }
    }

    private long bytesHeldNow() {
        long n = 0;
        for (long b : live.values()) n += b;
        return n;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        CudaException first = null;
        for (long ptr : live.keySet()) {
            int rc = cuMemFree(ptr);
            if (rc != 0 && first == null) first = new CudaException("cuMemFree", rc, Cu.describe(rc));
        }
        live.clear();
        pool.clear();
        released.clear();
        if (first != null) throw first;
    }
}
