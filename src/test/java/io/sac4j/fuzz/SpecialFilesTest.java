package io.sac4j.fuzz;

import io.sac4j.SacException;
import io.sac4j.compress.SacAdapter;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.cpu.CpuBackend;
import io.sac4j.load.Model;
import io.sac4j.tokenize.BpeTokenizer;
import io.sac4j.tokenize.Llama2cTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Paths that are not regular files: a FIFO (which a downloaded tar archive can hold, named like a model file) would
 * block a reader forever, and a device like /dev/zero never ends; both are refused at once, naming the path.
 */
class SpecialFilesTest {
    @TempDir
    Path dir;

    private static void refused(Path p, org.junit.jupiter.api.function.Executable load) {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            SacException e = assertThrows(SacException.class, load);
            assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
        });
    }

    @Test
    void fifosAndDevicesAreRefusedWithoutBlocking() throws Exception {
        Path fifo = dir.resolve("model.bin");
        boolean made;
        try {
            made = new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0;
        } catch (java.io.IOException e) {
            made = false;
        }
        assumeTrue(made && Files.exists(fifo), "no mkfifo here");
        Path json = dir.resolve("tokenizer.json"), pt = dir.resolve("adapter.pt"), sac = dir.resolve("ctx.sac");
        for (Path p : new Path[]{json, pt, sac}) assertTrue(new ProcessBuilder("mkfifo", p.toString()).start().waitFor() == 0);

        try (Model bundled = Model.bundled(); CpuBackend backend = new CpuBackend(1)) {
            Path tok = dir.resolve("tok512.bin");
            Files.write(tok, Fuzz.read(Targets.BUNDLED.resolve("tok512.bin")));
            Path bin = Targets.BUNDLED.resolve("aidreams260K.bin");
            refused(fifo, () -> Model.open(fifo, null));
            refused(fifo, () -> Model.open(bin, fifo));
            refused(json, () -> Model.open(bin, json));
            refused(json, () -> BpeTokenizer.fromJson(json));
            refused(fifo, () -> Llama2cTokenizer.load(fifo, 512));
            refused(pt, () -> SacAdapter.load(pt, bundled.config()));
            refused(sac, () -> SacFile.load(sac, backend, bundled.config(), null, null));
            Path zero = Path.of("/dev/zero");
            if (Files.exists(zero)) {
                refused(zero, () -> Model.open(zero, null));
                refused(zero, () -> BpeTokenizer.fromJson(zero));
                refused(zero, () -> Llama2cTokenizer.load(zero, 512));
                refused(zero, () -> SacAdapter.load(zero, bundled.config()));
                refused(zero, () -> SacFile.load(zero, backend, bundled.config(), null, null));
            }
        }
    }
}
