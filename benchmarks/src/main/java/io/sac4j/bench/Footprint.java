package io.sac4j.bench;

import com.sun.management.GarbageCollectionNotificationInfo;
import io.sac4j.compress.Anchors;
import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.load.JsonOut;
import io.sac4j.load.LlamaWeights;
import io.sac4j.load.ModelConfig;
import io.sac4j.load.Tensor;

import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Memory of one model in a fresh JVM (run.sh starts one per model), written as JSON for {@link Report}:
 * <ol>
 * <li>whether this JDK counts FFM memory in the platform buffer pools: an {@code Arena.allocate} in "direct" and a
 * {@code FileChannel.map(..., arena)} in "mapped" (checked with a 64 MiB allocation and a 1 MiB mapping, not
 * assumed: JDK 25 counts the mapping but not the allocation, which is why native allocations are read from NMT,
 * see {@link #nmtOther});</li>
 * <li>the scenario "compress a 4,096-token context at 15x and answer one question (at most 16 tokens)": peak Java
 * heap (sampled every 5 ms, the sum of the heap pools' own peaks as an upper bound, and the most heap in use right
 * after a GC), peak off-heap (direct and mapped pools, sampled; native allocations from NMT) and the process's
 * peak RSS (VmHWM), with the state
 * right after loading the model for comparison, and the heap the context keeps (measured with full GCs);</li>
 * <li>KV bytes per context for n = 512, 2048, 4096 and ratio 1 (the full context), 5, 15, 51:
 * {@link CompressedContext#bytes} of contexts built on the bundled model, each with the heap it really keeps.
 * Building the 12 contexts of the 1B model would take ~6 minutes of encoder work to learn numbers that only depend
 * on the anchor count (n and the ratio, not the model); there the bytes are {@code Anchors.count(n, r)} x
 * {@link CompressedContext#rowBytes}, checked against the real 4,096 / 15x context of the scenario.</li>
 * </ol>
 * Usage: {@code Footprint bundled|llama-3.2-1b out.json [threads]} (JVM flags: --add-modules=jdk.incubator.vector
 * --enable-native-access=ALL-UNNAMED -XX:NativeMemoryTracking=summary; without the last, native allocations are
 * reported as not measured).
 */
public final class Footprint {
    static final int[] TOKENS = {512, 2048, 4096};
    static final int[] RATIOS = {1, 5, 15, 51};
    static final int SCENARIO_TOKENS = 4096, SCENARIO_RATIO = 15, ANSWER_TOKENS = 16;

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: Footprint " + Subject.BUNDLED + "|" + Subject.LLAMA_1B + " out.json [threads]");
            System.exit(2);
        }
        String name = args[0];
        Path out = Path.of(args[1]);
        int threads = args.length == 3 ? Integer.parseInt(args[2]) : 2;
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("model", name);
        json.put("threads", threads);
        json.put("jdk", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + " "
                + System.getProperty("java.vm.version") + ")");
        json.put("maxHeap", Runtime.getRuntime().maxMemory());

        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) p.resetPeakUsage();
        AfterGc afterGc = new AfterGc();
        Sampler sampler = new Sampler();
        sampler.start();

        long t0 = System.nanoTime();
        Subject s = Subject.open(name, threads);
        ModelConfig c = s.model.config();
        json.put("description", s.model.toString());
        json.put("layers", c.nLayers());
        json.put("kvDim", c.kvDim());
        json.put("loadSeconds", (System.nanoTime() - t0) / 1e9);
        json.put("weightBytes", weightBytes(s.model.weights()));
        json.put("afterLoad", snapshot());

        Map<String, Object> scenario = scenario(s, c, sampler, afterGc);
        json.put("scenario", scenario);

        // KV bytes per context
        List<Object> kv = new ArrayList<>();
        for (int n : TOKENS) {
            for (int r : RATIOS) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("tokens", n);
                row.put("ratio", r);
                int count = Anchors.count(n, r);
                if (name.equals(Subject.BUNDLED)) {
                    int[] in = s.contextIds(n);
                    long[] m = measure(() -> r == 1 ? s.sac.fullContext(in) : s.sac.compress(in, r), c);
                    if (m[0] != count) throw new IllegalStateException("anchors " + m[0] + " != Anchors.count " + count);
                    row.put("anchors", m[0]);
                    row.put("bytes", m[1]);
                    row.put("heapKept", m[2]);
                    row.put("source", "built");
                } else {
                    // the scenario checked that a real context has exactly Anchors.count rows
                    boolean built = n == SCENARIO_TOKENS && r == SCENARIO_RATIO;
                    row.put("anchors", count);
                    row.put("bytes", count * CompressedContext.rowBytes(c.nLayers(), c.kvDim()));
                    if (built) row.put("heapKept", scenario.get("contextHeapKept"));
                    row.put("source", built ? "built" : "count");
                }
                kv.add(row);
            }
        }
        json.put("kv", kv);
        s.close();
        // last: its 64 MiB allocation must not count in the scenario's peak RSS
        json.put("accounting", accounting());

        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, JsonOut.write(json) + "\n");
        System.out.println("wrote " + out + ": " + JsonOut.write(scenario) + " " + JsonOut.write(json.get("accounting")));
    }

    /**
     * The scenario: compress {@value #SCENARIO_TOKENS} tokens at {@value #SCENARIO_RATIO}x, answer one question; the
     * peaks cover everything from the JVM's start to the end of the answer (loading the model included).
     */
    private static Map<String, Object> scenario(Subject s, ModelConfig c, Sampler sampler, AfterGc afterGc) throws Exception {
        int[] ids = s.contextIds(SCENARIO_TOKENS);
        // the context lives only in this array (no local variable), so dropping it below really frees it
        CompressedContext[] held = new CompressedContext[1];
        long t1 = System.nanoTime();
        held[0] = s.sac.compress(ids, SCENARIO_RATIO);
        long t2 = System.nanoTime();
        Answer a = s.sac.answer(held[0], s.questionIds(), AnswerOptions.DEFAULT.withMaxNewTokens(ANSWER_TOKENS));
        long t3 = System.nanoTime();
        sampler.stop();
        Thread.sleep(200); // GC notifications arrive asynchronously
        afterGc.stop();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", SCENARIO_TOKENS);
        m.put("ratio", SCENARIO_RATIO);
        m.put("answerTokens", a.ids().length);
        m.put("compressSeconds", (t2 - t1) / 1e9);
        m.put("answerSeconds", (t3 - t2) / 1e9);
        Map<String, Object> peak = new LinkedHashMap<>();
        peak.put("heapUsedSampled", sampler.heapUsed.get());
        peak.put("heapUsedPoolPeaks", poolPeaks(MemoryType.HEAP));
        peak.put("heapAfterGc", afterGc.max.get());
        peak.put("heapCommitted", sampler.heapCommitted.get());
        peak.put("nonHeapUsedPoolPeaks", poolPeaks(MemoryType.NON_HEAP));
        peak.put("direct", sampler.direct.get());
        peak.put("mapped", sampler.mapped.get());
        peak.put("rss", procStatus("VmHWM"));
        long[] other = nmtOther();
        peak.put("nativeOther", other == null ? -1 : other[1]);
        m.put("peak", peak);
        int count = Anchors.count(SCENARIO_TOKENS, SCENARIO_RATIO);
        if (held[0].anchors() != count)
            throw new IllegalStateException("anchors " + held[0].anchors() + " != Anchors.count " + count);
        m.put("anchors", held[0].anchors());
        m.put("kvBytes", held[0].bytes(c.nLayers(), c.kvDim()));
        long with = usedAfterGc();
        held[0] = null;
        m.put("contextHeapKept", with - usedAfterGc());
        return m;
    }

    /**
     * Builds a context and returns {anchors, bytes(), heap it keeps}: heap in use after a full GC while it is held,
     * minus after it is dropped (good to some KB: what else the JVM allocates meanwhile).
     */
    private static long[] measure(Supplier<CompressedContext> make, ModelConfig c) {
        CompressedContext[] held = {make.get()}; // the only reference (see scenario)
        long anchors = held[0].anchors(), bytes = held[0].bytes(c.nLayers(), c.kvDim());
        long with = usedAfterGc();
        held[0] = null;
        return new long[]{anchors, bytes, with - usedAfterGc()};
    }

    private static long usedAfterGc() {
        System.gc();
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    /** Whether FFM allocations and mappings show in the "direct" and "mapped" buffer pools of this JDK. */
    private static Map<String, Object> accounting() throws IOException {
        BufferPoolMXBean direct = pool("direct"), mapped = pool("mapped");
        Map<String, Object> m = new LinkedHashMap<>();
        long size = 64L << 20;
        long d0 = direct.getMemoryUsed(), d1;
        try (Arena arena = Arena.ofConfined()) {
            arena.allocate(size);
            d1 = direct.getMemoryUsed();
        }
        long d2 = direct.getMemoryUsed();
        m.put("arenaAllocateBytes", size);
        m.put("directPoolGrowth", d1 - d0);
        m.put("directPoolAfterClose", d2 - d0);
        m.put("arenaInDirectPool", d1 - d0 >= size && d2 == d0);

        Path f = Files.createTempFile("sac4j-footprint", ".bin");
        long mapSize = 1L << 20;
        try {
            Files.write(f, new byte[(int) mapSize]);
            long m0 = mapped.getMemoryUsed(), m1;
            try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                ch.map(FileChannel.MapMode.READ_ONLY, 0, mapSize, arena);
                m1 = mapped.getMemoryUsed();
            }
            long m2 = mapped.getMemoryUsed();
            m.put("mapBytes", mapSize);
            m.put("mappedPoolGrowth", m1 - m0);
            m.put("mappedPoolAfterClose", m2 - m0);
            m.put("mapInMappedPool", m1 - m0 >= mapSize && m2 == m0);
        } finally {
            Files.deleteIfExists(f);
        }
        return m;
    }

    private static BufferPoolMXBean pool(String name) {
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class))
            if (p.getName().equals(name)) return p;
        throw new IllegalStateException("no buffer pool named " + name);
    }

    private static long poolPeaks(MemoryType type) {
        long sum = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == type && p.getPeakUsage() != null) sum += p.getPeakUsage().getUsed();
        return sum;
    }

    private static Map<String, Object> snapshot() throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        m.put("heapUsed", heap.getUsed());
        m.put("direct", pool("direct").getMemoryUsed());
        m.put("mapped", pool("mapped").getMemoryUsed());
        m.put("rss", procStatus("VmRSS"));
        m.put("rssPeak", procStatus("VmHWM"));
        long[] other = nmtOther();
        m.put("nativeOther", other == null ? -1 : other[0]);
        return m;
    }

    /**
     * JDK 25 does not count {@code Arena.allocate} in the "direct" pool (see {@link #accounting}), so FFM memory is
     * read from Native Memory Tracking (JVM flag -XX:NativeMemoryTracking=summary): such allocations are mallocs
     * tagged "Other", which NMT tracks with their peak. Returns {now, peak} in bytes, or null when NMT is off.
     */
    static long[] nmtOther() {
        String summary;
        try {
            summary = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[]{new String[]{"summary"}}, new String[]{String[].class.getName()});
        } catch (Exception e) {
            return null;
        }
        // "-   Other (reserved=262178KB, committed=262178KB)\n   (malloc=262178KB tag=Other #3) (peak=262178KB #3)";
        // "(at peak)" instead of "(peak=...)" when now is the peak
        Matcher m = Pattern.compile("-\\s+Other \\(reserved=\\d+KB, committed=\\d+KB\\)\\s*\\(malloc=(\\d+)KB[^)]*\\)\\s*\\((?:peak=(\\d+)KB|at peak)")
                .matcher(summary);
        if (!m.find()) return null;
        long now = 1024 * Long.parseLong(m.group(1));
        return new long[]{now, m.group(2) == null ? now : 1024 * Long.parseLong(m.group(2))};
    }

    /** Bytes of all weight tensors, each once (a tied output head is the embedding table). */
    static long weightBytes(LlamaWeights w) {
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Tensor> all = new ArrayList<>(List.of(w.tokenEmbedding(), w.finalNorm(), w.output()));
        for (LlamaWeights.Layer l : w.layers()) all.addAll(Arrays.asList(l.tensors()));
        long sum = 0;
        for (Tensor t : all) if (t != null && seen.add(t)) sum += t.data().byteSize();
        return sum;
    }

    /** A "VmXXX:  1234 kB" line of /proc/self/status in bytes, or -1 where there is none (not Linux). */
    static long procStatus(String key) throws IOException {
        Path p = Path.of("/proc/self/status");
        if (!Files.isReadable(p)) return -1;
        for (String line : Files.readAllLines(p))
            if (line.startsWith(key + ":")) return 1024 * Long.parseLong(line.substring(key.length() + 1).replace("kB", "").trim());
        return -1;
    }

    /** Peaks of the heap and the buffer pools, sampled every 5 ms on a daemon thread. */
    private static final class Sampler implements Runnable {
        final AtomicLong heapUsed = new AtomicLong(), heapCommitted = new AtomicLong(), direct = new AtomicLong(),
                mapped = new AtomicLong();
        private final BufferPoolMXBean directPool = pool("direct"), mappedPool = pool("mapped");
        private volatile boolean running = true;
        private final Thread thread = new Thread(this, "footprint-sampler");

        void start() {
            thread.setDaemon(true);
            thread.start();
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join();
            sample(); // the last moment counts too
        }

        @Override
        public void run() {
            while (running) {
                sample();
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private void sample() {
            MemoryUsage h = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
            heapUsed.accumulateAndGet(h.getUsed(), Math::max);
            heapCommitted.accumulateAndGet(h.getCommitted(), Math::max);
            direct.accumulateAndGet(directPool.getMemoryUsed(), Math::max);
            mapped.accumulateAndGet(mappedPool.getMemoryUsed(), Math::max);
        }
    }

    /** The most heap in use right after any GC (the heap pools' usage in the GC's notification). */
    private static final class AfterGc {
        final AtomicLong max = new AtomicLong();
        private final Set<String> heapPools = ManagementFactory.getMemoryPoolMXBeans().stream()
                .filter(p -> p.getType() == MemoryType.HEAP).map(MemoryPoolMXBean::getName).collect(Collectors.toSet());
        private final List<NotificationEmitter> emitters = new ArrayList<>();
        private final NotificationListener listener = (n, hb) -> {
            if (!n.getType().equals(GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION)) return;
            GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
            long used = 0;
            for (Map.Entry<String, MemoryUsage> e : info.getGcInfo().getMemoryUsageAfterGc().entrySet())
                if (heapPools.contains(e.getKey())) used += e.getValue().getUsed();
            max.accumulateAndGet(used, Math::max);
        };

        AfterGc() {
            for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
                if (gc instanceof NotificationEmitter e) {
                    e.addNotificationListener(listener, null, null);
                    emitters.add(e);
                }
            }
        }

        /** Stops listening (the full GCs that measure kept heap afterwards must not count). */
        void stop() throws Exception {
            for (NotificationEmitter e : emitters) e.removeNotificationListener(listener);
        }
    }
}
