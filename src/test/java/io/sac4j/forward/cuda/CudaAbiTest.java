package io.sac4j.forward.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The Java side launches kernels by name with hand-packed arguments and launch shapes; this checks both against
 * the declarations in native/*.cuh, and the fake driver's kernel table (native/emu/fake_libcuda.cpp) too.
 */
class CudaAbiTest {
    private static final Path NATIVE = Path.of("native");
    private static final Pattern KERNEL = Pattern.compile("extern \"C\" __global__ void (sac_\\w+)\\(");
    private static final Pattern MACRO_KERNEL = Pattern.compile("^SAC_\\w+_DECLARE\\((sac_\\w+)", Pattern.MULTILINE);
    private static final Pattern DEFINE = Pattern.compile("^#define (SAC_\\w+) (\\d+)", Pattern.MULTILINE);

    private static String headers() throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.list(NATIVE)) {
            for (Path p : files.filter(p -> p.toString().endsWith(".cuh")).sorted().toList()) all.append(Files.readString(p)).append('\n');
        }
        return all.toString();
    }

    private static Set<String> declaredKernels() throws IOException {
        String h = headers();
        Set<String> names = new TreeSet<>();
        for (Pattern p : new Pattern[]{KERNEL, MACRO_KERNEL}) {
            Matcher m = p.matcher(h);
            while (m.find()) names.add(m.group(1));
        }
        return names;
    }

    @Test
    void javaLaunchesExactlyTheDeclaredKernels() throws IOException {
        Set<String> declared = declaredKernels();
        assertFalse(declared.isEmpty());
        assertEquals(declared, new TreeSet<>(Kernels.NAMES));
    }

    @Test
    void fakeDriverKnowsEveryKernel() throws IOException {
        Matcher m = Pattern.compile("K\\((sac_\\w+)\\)").matcher(Files.readString(NATIVE.resolve("emu/fake_libcuda.cpp")));
        Set<String> fake = new TreeSet<>();
        while (m.find()) fake.add(m.group(1));
        assertEquals(declaredKernels(), fake);
    }

    @Test
    void launchShapesMatchTheHeaders() throws IOException {
        Map<String, Integer> defines = new TreeMap<>();
        Matcher m = DEFINE.matcher(headers());
        while (m.find()) defines.put(m.group(1), Integer.parseInt(m.group(2)));
        Map<String, Integer> java = new TreeMap<>(Map.ofEntries(
                Map.entry("SAC_RMSNORM_THREADS", Kernels.RMSNORM_THREADS), Map.entry("SAC_ROPE_THREADS", Kernels.ROPE_THREADS),
                Map.entry("SAC_ELEMWISE_THREADS", Kernels.ELEMWISE_THREADS), Map.entry("SAC_EMBED_THREADS", Kernels.EMBED_THREADS),
                Map.entry("SAC_GATHER_THREADS", Kernels.GATHER_THREADS), Map.entry("SAC_ROLE_THREADS", Kernels.ROLE_THREADS),
                Map.entry("SAC_ARGMAX_THREADS", Kernels.ARGMAX_THREADS), Map.entry("SAC_ATTN_QV", Kernels.ATTN_QV),
                Map.entry("SAC_ATTN_THREADS", Kernels.ATTN_THREADS), Map.entry("SAC_ATTN_COMBINE_THREADS", Kernels.ATTN_COMBINE_THREADS),
                Map.entry("SAC_ATTN_MMA_QV", Kernels.ATTN_MMA_QV), Map.entry("SAC_ATTN_MMA_THREADS", Kernels.ATTN_MMA_THREADS),
                Map.entry("SAC_ATTN_MMA_BK", Kernels.ATTN_MMA_BK),
                Map.entry("SAC_GEMM_TILE", Kernels.GEMM_TILE), Map.entry("SAC_GEMM_THREADS", Kernels.GEMM_THREADS),
                Map.entry("SAC_GEMV_ROWS", Kernels.GEMV_ROWS), Map.entry("SAC_GEMV_THREADS", Kernels.GEMV_THREADS),
                // the values io.sac4j.forward.Mask.Kind.ordinal() passes
                Map.entry("SAC_MASK_CAUSAL", io.sac4j.forward.Mask.Kind.CAUSAL.ordinal()),
                Map.entry("SAC_MASK_BLOCKS", io.sac4j.forward.Mask.Kind.BLOCKS.ordinal()),
                Map.entry("SAC_MASK_PREFIX", io.sac4j.forward.Mask.Kind.PREFIX.ordinal())));
        for (Map.Entry<String, Integer> e : java.entrySet())
            assertEquals(defines.get(e.getKey()), e.getValue(), e.getKey() + " in native/*.cuh vs Java");
    }
}
