package io.sac4j.compress;

import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Open, compress, save, load, answer and close, a thousand times over: every off-heap and file resource has an owner
 * that frees it, so heap (after GC), direct/native memory (the JDK's "direct" buffer pool, which also counts native
 * segments from {@link java.lang.foreign.Arena#allocate}), memory mappings, file descriptors and backend threads stay
 * flat.
 */
class ResourceLeakTest {
    static final int ROUNDS = Boolean.getBoolean("sac.long") ? 10_000 : 1000;
    static final int WARMUP = 40;

    /** maps: mappings of the bundled model's file (the exact count; /proc/self/maps lines merge and split). */
    record Usage(long heap, long direct, long directBuffers, long maps, long fds, long ourThreads) {
        static Usage now() {
            for (int i = 0; i < 3; i++) System.gc();
            long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            long direct = 0, buffers = 0;
            for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
                direct += p.getMemoryUsed();
                buffers += p.getCount();
            }
            // the backends' worker threads (the JVM's own, like the common fork-join pool, come and go by themselves)
            long ours = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("sac4j-")).count();
            return new Usage(heap, direct, buffers, modelMappings(Path.of("/proc/self/maps")), entries(Path.of("/proc/self/fd")), ours);
        }

        private static long modelMappings(Path p) {
            if (!Files.isReadable(p)) return -1; // not Linux: mappings not measured
            try (Stream<String> s = Files.lines(p)) {
                return s.filter(l -> l.contains("aidreams260K.bin")).count();
            } catch (IOException e) {
                return -1;
            }
        }

        private static long entries(Path p) {
            if (!Files.isDirectory(p)) return 0;
            try (Stream<Path> s = Files.list(p)) {
                return s.count();
            } catch (IOException e) {
                return 0;
            }
        }
    }

    @Test
    void openCompressAskCloseStaysFlat(@TempDir Path dir) {
        SacAdapter adapter;
        try (Model m = Model.bundled()) {
            adapter = SacAdapter.load(SacFixture.adapter("adapters/aidreams260K-r5", ".safetensors"), m.config());
        }
        Path file = dir.resolve("ctx.sac");
        try (CpuBackend shared = new CpuBackend(1)) {
            check(adapter, file, shared);
        }
    }

    private static void check(SacAdapter adapter, Path file, CpuBackend shared) {
        int[] first = round(adapter, file, 0, shared);
        for (int i = 1; i < WARMUP; i++) round(adapter, file, i, shared);
        Usage before = Usage.now();
        // the instrument works: the merged encoder weights of a live Sac with an adapter (f32 q and v of every
        // layer, native memory) show in the pool; one leaked round would leave them behind
        try (Model model = Model.bundled(); CpuBackend backend = new CpuBackend(2); Sac sac = Sac.open(model, adapter, backend)) {
            sac.compress("x", 5);
            var c = model.config();
            long merged = (long) c.nLayers() * c.dim() * (c.qDim() + c.kvDim()) * Float.BYTES;
            Usage live = Usage.now();
            assertTrue(live.direct() - before.direct() >= merged, "the direct pool shows " + (live.direct() - before.direct())
                    + " bytes for " + merged + " bytes of merged weights");
            assertTrue(live.ourThreads() > before.ourThreads(), "a 2-thread backend's worker is seen");
            if (before.maps() >= 0) assertTrue(live.maps() > before.maps(), "the model's mapping is seen");
        }
        long t0 = System.nanoTime();
        for (int i = WARMUP; i < WARMUP + ROUNDS; i++) {
            int[] ids = round(adapter, file, i, shared);
            if (i % 100 == 0) assertArrayEquals(first, ids, "round " + i + " answers like the first");
        }
        double secs = (System.nanoTime() - t0) * 1e-9;
        Usage after = Usage.now();
        System.out.printf("%d rounds in %.1f s; before %s%n after  %s%n", ROUNDS, secs, before, after);
        assertTrue(after.heap() - before.heap() < 16L << 20, "heap grew by " + ((after.heap() - before.heap()) >> 10) + " KiB");
        assertTrue(after.direct() - before.direct() < 1L << 20, "direct/native memory grew by " + (after.direct() - before.direct()) + " bytes");
        assertTrue(after.directBuffers() - before.directBuffers() < 16, "buffers: " + before.directBuffers() + " -> " + after.directBuffers());
        assertTrue(after.maps() <= before.maps(), "mappings of the model file: " + before.maps() + " -> " + after.maps());
        assertTrue(after.fds() - before.fds() < 4, "open file descriptors: " + before.fds() + " -> " + after.fds());
        assertTrue(after.ourThreads() <= before.ourThreads(), "backend threads: " + before.ourThreads() + " -> " + after.ourThreads());
    }

    /**
     * One whole life: a model, SAC (with merged adapter weights every other round), a compressed context and an
     * answer; one round in ten also has its own backend (threads) and saves and reloads the context (a file).
     */
    private static int[] round(SacAdapter adapter, Path file, int i, CpuBackend shared) {
        boolean full = i % 10 == 0;
        try (Model model = Model.bundled(); CpuBackend own = full ? new CpuBackend(2) : null) {
            CpuBackend backend = full ? own : shared;
            try (Sac sac = Sac.open(model, i % 2 == 0 ? adapter : null, backend)) {
                CompressedContext ctx = sac.compress("A gentle hum.", 5);
                if (full) {
                    SacFile.save(file, ctx, model.config());
                    ctx = SacFile.load(file, backend, model.config(), sac.modelFingerprint(), sac.adapterFingerprint());
                }
                return sac.answer(ctx, "What hums?", AnswerOptions.DEFAULT.withMaxNewTokens(1)).ids();
            }
        }
    }
}
