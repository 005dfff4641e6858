package io.sac4j.compress;

import io.sac4j.eval.ResultLog;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.ModelConfig;

import java.nio.file.Path;
import java.util.List;

/**
 * The process {@link KillDuringSaveTest} kills: it saves one output file over and over, printing a line after each
 * completed save, until it is killed.
 * <ul>
 *   <li>{@code sac FILE FIRST_GENERATION [pause]}: .sac files of {@link #ANCHORS} rows x {@link #CONFIG}'s layers
 *       (4 MiB), generation g stored as ratio g + 1 with every value {@link #value}(g, layer, i); prints
 *       "saved g". With {@code pause}, the second save prints "mid g" half-way through its rows and sleeps, so the
 *       kill lands inside the write for sure.</li>
 *   <li>{@code log FILE FIRST_INDEX}: appends results "q&lt;i&gt;" with 12 KB predictions (several write calls each)
 *       to a results log, printing "wrote i" after each.</li>
 * </ul>
 */
public final class SaveLoopMain {
    static final ModelConfig CONFIG = new ModelConfig("llama", 64, 172, 8, 4, 4, 16, 512, 128, 1e-5f, 10000f,
            ModelConfig.RopeStyle.ADJACENT, null, false, true, 1, new int[]{2});
    static final int ANCHORS = 1024;

    private SaveLoopMain() {
    }

    static float value(int generation, int layer, int i) {
        return generation * 1e4f + layer * 1e3f + i % 997;
    }

    static String prediction(int i) {
        return ("answer " + i + " ").repeat(1200);
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[1]);
        int first = Integer.parseInt(args[2]);
        boolean pause = args.length > 3 && args[3].equals("pause");
        if (args[0].equals("log")) {
            try (ResultLog.Writer w = ResultLog.append(file)) {
                for (int i = first; ; i++) {
                    w.write(ResultLog.Record.of("sac", "5x", "SQuAD", "q" + i, prediction(i), List.of("answer"), null));
                    System.out.println("wrote " + i);
                    System.out.flush();
                }
            }
        }
        try (CpuBackend backend = new CpuBackend(1)) {
            int kv = CONFIG.kvDim();
            for (int g = first; ; g++) {
                float[][] k = new float[CONFIG.nLayers()][ANCHORS * kv], v = new float[CONFIG.nLayers()][ANCHORS * kv];
                for (int l = 0; l < CONFIG.nLayers(); l++) {
                    for (int i = 0; i < k[l].length; i++) {
                        k[l][i] = value(g, l, i);
                        v[l][i] = -value(g, l, i);
                    }
                }
                CompressedContext ctx = new CompressedContext("model-fp", CompressedContext.NO_ADAPTER, g + 1, ANCHORS * 3,
                        ANCHORS, backend.cacheOf(k, v, CONFIG));
                int gen = g;
                boolean[] paused = {false};
                long half = (long) CONFIG.nLayers() * ANCHORS * kv * 4; // bytes of rows / 2
                SacFile.save(file, ctx, CONFIG, (stage, bytes) -> {
                    if (pause && gen > first && !paused[0] && stage.equals("rows") && bytes > half) {
                        paused[0] = true;
                        System.out.println("mid " + gen);
                        System.out.flush();
                        try {
                            Thread.sleep(120_000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                });
                System.out.println("saved " + g);
                System.out.flush();
            }
        }
    }
}
