package io.sac4j.forward.cuda;

import io.sac4j.SacException;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Backends;
import io.sac4j.forward.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Backends.create: the one place a backend is chosen, and the reasons it gives on machines without CUDA. */
class BackendsTest {

    /** Runs {@code create} with stderr captured; returns the backend (closed) and what was printed. */
    private record Created(Backend backend, String stderr) {
    }

    private static Created create(String device) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        Backend b;
        try {
            b = Backends.create(device, 2);
        } finally {
            System.setErr(old);
        }
        b.close();
        return new Created(b, err.toString(StandardCharsets.UTF_8));
    }

    /**
     * An independent look for the driver: ldconfig's list and the usual directories. On the build machine and
     * in CI there is none, which is what the precise-reason checks below rely on.
     */
    private static boolean driverVisible() {
        List<String> dirs = new ArrayList<>(List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64"));
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) dirs.addAll(List.of(ld.split(":")));
        for (String d : dirs) if (!d.isBlank() && Files.exists(Path.of(d, "libcuda.so.1"))) return true;
        for (String ldconfig : new String[]{"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
            if (!Files.isExecutable(Path.of(ldconfig))) continue;
            try {
                Process p = new ProcessBuilder(ldconfig, "-p").redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                p.waitFor(10, TimeUnit.SECONDS);
                return out.contains("libcuda.so.1 ");
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    @Test
    void cpuIsCpu() {
        assertInstanceOf(CpuBackend.class, create("cpu").backend());
        assertEquals("", create("cpu").stderr());
    }

    @Test
    void autoWithoutDriverFallsBackToCpuAndSaysWhy() {
        assumeTrue(!driverVisible(), "an NVIDIA driver is installed here");
        Created c = create("auto");
        assertInstanceOf(CpuBackend.class, c.backend());
        assertEquals("CUDA unavailable: the NVIDIA driver (libcuda.so.1) is not installed; using cpu" + System.lineSeparator(), c.stderr());
    }

    @Test
    void cudaWithoutDriverThrowsWithTheReason() {
        assumeTrue(!driverVisible(), "an NVIDIA driver is installed here");
        SacException e = assertThrows(SacException.class, () -> Backends.create("cuda", 2));
        assertEquals("CUDA unavailable: the NVIDIA driver (libcuda.so.1) is not installed", e.getMessage());
    }

    /** Wherever this runs: auto gives CUDA, or the CPU with exactly one note whose reason "cuda" throws too. */
    @Test
    void autoAndCudaAgree() {
        Created c = create("auto");
        if (c.backend() instanceof CpuBackend) {
            String note = c.stderr().strip();
            assertTrue(note.startsWith("CUDA unavailable: ") && note.endsWith("; using cpu") && !note.contains("\n"), note);
            SacException e = assertThrows(SacException.class, () -> Backends.create("cuda", 2));
            assertEquals(note.substring(0, note.length() - "; using cpu".length()), e.getMessage());
        } else {
            assertTrue(c.backend().name().startsWith("cuda ("), c.backend().name());
            assertEquals("", c.stderr());
        }
    }

    @Test
    void unknownDeviceIsAnError() {
        SacException e = assertThrows(SacException.class, () -> Backends.create("tpu", 2));
        assertEquals("device: unknown device 'tpu' (expected auto, cpu or cuda)", e.getMessage());
    }

    /**
     * The CPU path loads no CUDA or JavaCPP class: Backends runs in a class loader that sees this project's
     * classes and records every class it is asked for.
     */
    @Test
    void cpuPathLoadsNoCudaClass() throws Exception {
        URL classes = Backends.class.getProtectionDomain().getCodeSource().getLocation();
        List<String> requested = new ArrayList<>();
        try (URLClassLoader loader = new URLClassLoader(new URL[]{classes}, ClassLoader.getPlatformClassLoader()) {
            @Override
            protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
                synchronized (requested) {
                    requested.add(name);
                }
                return super.loadClass(name, resolve);
            }
        }) {
            Class<?> backends = loader.loadClass(Backends.class.getName());
            Object backend = backends.getMethod("create", String.class, int.class).invoke(null, "cpu", 1);
            ((AutoCloseable) backend).close();
        }
        assertTrue(requested.contains(CpuBackend.class.getName()), "the isolated loader did not load the CPU backend");
        for (String name : requested)
            assertTrue(!name.startsWith("io.sac4j.forward.cuda.") && !name.startsWith("org.bytedeco."),
                    "the CPU path loaded " + name + " (classes from " + new File(classes.toURI()) + ")");
    }
}
