package io.sac4j.cli;

import io.sac4j.SacException;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Backends;
import io.sac4j.load.Json;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The product on the GPU, through the CLI as a user runs it: {@code generate}, {@code compress} and {@code ask}
 * with {@code --device cuda} give the CPU backend's tokens, and a .sac file made on either device answers alike on
 * both. Greedy tokens must agree where every GPU product is f32 like the CPU's: f32 weights (cuBLAS with
 * CUBLAS_COMPUTE_32F, no TF32), and 16-bit weights with cuBLAS off (-Dsac.cuda.cublas=false: the built-in kernels
 * widen the weights and keep f32 activations, as the CPU does). cuBLAS rounds activations to the weights' 16 bits,
 * so with it 16-bit models are compared by tolerance, in CudaLlamaTest. Skipped with the "CUDA unavailable: ..." reason where there is no GPU (it runs on the CPU emulator's
 * fake driver in scripts/gpu/emu_check.sh, and on a GPU in scripts/gpu/run_all.sh).
 */
@Tag("gpu")
class CudaCliTest {
    private static final String FIXTURES = "src/test/resources/fixtures/";
    private static final String STORY = "The lighthouse keeper, Mara, counted ships every night from the tower on the cliff. "
            + "One stormy evening a small boat named Wren lost its way, and Mara lit the great lamp to guide it home. ";
    private static String unavailable;

    @BeforeAll
    static void probe() {
        try (Backend b = Backends.create("cuda", 1)) {
            unavailable = null;
        } catch (SacException e) {
            if (Boolean.getBoolean("sac.gpu.required")) throw e;
            unavailable = e.getMessage();
        }
    }

    @BeforeEach
    void needsGpu() {
        assumeTrue(unavailable == null, unavailable);
    }

    /** MODEL is "-" for the bundled model, else a fixture directory. */
    private static List<String> modelArgs(String model) {
        return model.equals("-") ? List.of() : List.of("-m", FIXTURES + "models/" + model);
    }

    private static Map<String, Object> json(String what, CliRunner.Result r) {
        assertEquals(0, r.exit(), what + ": " + r.err());
        return Json.parseObject(r.out().strip(), what);
    }

    private static CliRunner.Result run(List<String> args) {
        return CliRunner.run(args.toArray(String[]::new));
    }

    /** Runs a --device cuda command with cuBLAS allowed or not (the backend reads the property when it opens). */
    private static CliRunner.Result runCuda(List<String> args, boolean cublas) {
        String before = System.getProperty("sac.cuda.cublas");
        if (!cublas) System.setProperty("sac.cuda.cublas", "false");
        try {
            return run(args);
        } finally {
            if (before == null) System.clearProperty("sac.cuda.cublas");
            else System.setProperty("sac.cuda.cublas", before);
        }
    }

    @ParameterizedTest
    @CsvSource({"-, Once upon a time, 64, true", "llama-gqa-untied, The lighthouse keeper, 24, true",
            "qwen2-mha-untied, Mara lit the lamp, 24, true", "llama-gqa-bf16, The lighthouse keeper, 24, false"})
    void generateGivesTheCpuTokens(String model, String prompt, int tokens, boolean cublas) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (String device : List.of("cpu", "cuda")) {
            List<String> args = new ArrayList<>(List.of("generate", "--device", device, "-p", prompt, "-n", String.valueOf(tokens), "--json"));
            args.addAll(modelArgs(model));
            out.add(json("generate on " + device, device.equals("cuda") ? runCuda(args, cublas) : run(args)));
        }
        String backend = String.valueOf(out.get(1).get("backend"));
        assertTrue(backend.startsWith("cuda"), "ran on " + backend);
        if (!cublas) assertTrue(backend.contains("built-in kernels"), backend);
        assertTrue(((List<?>) out.get(0).get("ids")).size() > 4, "too short to compare: " + out.get(0));
        assertEquals(out.get(0).get("ids"), out.get(1).get("ids"), model + ": generated ids");
        assertEquals(out.get(0).get("text"), out.get(1).get("text"), model + ": generated text");
    }

    /**
     * compress on each device (several chunks), then ask both files on both devices: four identical answers. With
     * an adapter (the bundled model's 5x one: role tokens, LoRA-merged encoder, [LM]) and training-free.
     */
    @ParameterizedTest
    @CsvSource({"-, adapters/aidreams260K-r5.safetensors, 5, true", "llama-gqa-untied, adapters/llama-gqa-untied-r15.pt, 15, true",
            "qwen2-gqa-tied, , 5, true", "llama-gqa-f16, , 15, false"})
    void compressAndAskGiveTheCpuTokens(String model, String adapter, int ratio, boolean cublas, @TempDir Path dir) throws Exception {
        Path context = dir.resolve("context.txt");
        Files.writeString(context, STORY.repeat(5)); // two chunks: 549-575 tokens with these tokenizers
        List<String> common = new ArrayList<>(modelArgs(model));
        if (adapter != null) common.addAll(List.of("-a", FIXTURES + "sac/" + adapter));
        List<Map<String, Object>> compressed = new ArrayList<>();
        for (String device : List.of("cpu", "cuda")) {
            List<String> args = new ArrayList<>(List.of("compress", "--device", device, "-r", String.valueOf(ratio),
                    "-c", context.toString(), "-o", dir.resolve(device + ".sac").toString(), "--json"));
            args.addAll(common);
            compressed.add(json("compress on " + device, device.equals("cuda") ? runCuda(args, cublas) : run(args)));
        }
        for (String field : List.of("context_tokens", "rows", "kind", "ratio", "file_bytes", "adapter_fingerprint"))
            assertEquals(compressed.get(0).get(field), compressed.get(1).get(field), field);
        assertTrue(((Number) compressed.get(0).get("context_tokens")).intValue() > 510, "one chunk only: " + compressed.get(0));

        List<String> answers = new ArrayList<>();
        for (String file : List.of("cpu", "cuda")) {
            for (String device : List.of("cpu", "cuda")) {
                List<String> args = new ArrayList<>(List.of("ask", "--device", device, "-s", dir.resolve(file + ".sac").toString(),
                        "-Q", "Who kept the lighthouse?", "-Q", "What was the boat called?", "-n", "16", "--json"));
                args.addAll(common);
                List<?> list = (List<?>) json("ask " + file + ".sac on " + device,
                        device.equals("cuda") ? runCuda(args, cublas) : run(args)).get("answers");
                answers.add(file + ".sac on " + device + ": " + list.stream().map(a -> ((Map<?, ?>) a).get("ids")).toList());
            }
        }
        String want = answers.getFirst().substring(answers.getFirst().indexOf(':'));
        for (String a : answers) assertEquals(want, a.substring(a.indexOf(':')), "answers differ:\n" + String.join("\n", answers));
        assertTrue(!want.contains("[]"), "an empty answer compares nothing: " + Arrays.toString(answers.toArray()));
    }
}
