package io.sac4j.forward.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why CUDA cannot be used, found without loading any native code: {@link CudaBackend#open} asks here first, so a
 * machine without the NVIDIA driver gets a precise one-line reason and never extracts or loads the JavaCPP
 * libraries. Nothing in this class refers to JavaCPP.
 */
public final class CudaProbe {
    /** Where the build puts the kernels (cmake/CMakeLists.txt via the pom's "cuda" profile). */
    public static final String FATBIN_RESOURCE = "/io/sac4j/cuda/sac4j_kernels.fatbin";
    public static final String NO_DRIVER = "the NVIDIA driver (libcuda.so.1) is not installed";
    public static final String NO_FATBIN = "kernels not built (no fatbin in the jar: nvcc was not found at build time)";
    public static final String NO_DEVICE = "no CUDA device";

    private static final String DRIVER = "libcuda.so.1";
    private static final Pattern MISSING_LIB = Pattern.compile("(lib[\\w.+-]+\\.so[\\w.]*): cannot open shared object file");

    private CudaProbe() {
    }

    /** The reason CUDA cannot even be tried (no driver, no kernels), or null when it is worth loading. */
    public static String staticReason() {
        return staticReason(driverInstalled(), fatbinPresent());
    }

    static String staticReason(boolean driver, boolean fatbin) {
        if (!driver) return NO_DRIVER;
        if (!fatbin) return NO_FATBIN;
        return null;
    }

    public static boolean fatbinPresent() {
        return CudaProbe.class.getResource(FATBIN_RESOURCE) != null;
    }

    /** The kernels' fatbin from the jar, or null when the build had no nvcc. */
    static byte[] fatbin() throws IOException {
        try (InputStream in = CudaProbe.class.getResourceAsStream(FATBIN_RESOURCE)) {
            return in == null ? null : in.readAllBytes();
        }
    }

    /**
     * Whether the dynamic linker can find libcuda.so.1: in LD_LIBRARY_PATH, java.library.path, the linker's cache
     * (/etc/ld.so.cache, which covers /etc/ld.so.conf.d) or the usual driver directories.
     */
    public static boolean driverInstalled() {
        for (Path dir : libraryDirs())
            if (Files.exists(dir.resolve(DRIVER))) return true;
        return inLinkerCache(Path.of("/etc/ld.so.cache"), DRIVER);
    }

    static List<Path> libraryDirs() {
        Set<String> dirs = new LinkedHashSet<>();
        for (String var : new String[]{System.getenv("LD_LIBRARY_PATH"), System.getProperty("java.library.path")})
            if (var != null) for (String d : var.split(":")) if (!d.isBlank()) dirs.add(d);
        dirs.addAll(List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64",
                "/lib", "/usr/local/cuda/compat", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib"));
        List<Path> out = new ArrayList<>();
        for (String d : dirs) {
            try {
                out.add(Path.of(d));
            } catch (RuntimeException e) {
                // an unparsable entry in a path variable: the linker cannot use it either
            }
        }
        return out;
    }

    /** ld.so.cache holds every cached library name as a NUL-terminated string. */
    static boolean inLinkerCache(Path cache, String lib) {
        try {
            if (!Files.isRegularFile(cache)) return false;
            byte[] data = Files.readAllBytes(cache);
            byte[] name = (lib + "\0").getBytes(StandardCharsets.US_ASCII);
            outer:
            for (int i = 0; i + name.length <= data.length; i++) {
                for (int j = 0; j < name.length; j++) if (data[i + j] != name[j]) continue outer;
                // the name must start a string or follow a '/' (a path ending in the library)
                if (i == 0 || data[i - 1] == 0 || data[i - 1] == '/') return true;
            }
            return false;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * The reason behind a failure to load the JavaCPP CUDA bindings. JavaCPP reports "no jnicudart in
     * java.library.path" and chains the linker's error ("libcuda.so.1: cannot open shared object file"), which
     * names the library that is really missing.
     */
    static String explainLoadFailure(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            String m = c.getMessage();
            if (m == null) continue;
            Matcher matcher = MISSING_LIB.matcher(m);
            if (matcher.find()) {
                String lib = matcher.group(1);
                if (lib.equals(DRIVER) || lib.startsWith("libcuda.so")) return NO_DRIVER;
                if (lib.startsWith("libcudart.so"))
                    return "the CUDA runtime (" + lib + ") is not installed: install the CUDA 13 runtime (cuda-cudart-13) or add its lib directory to LD_LIBRARY_PATH";
                return "cannot load the CUDA bindings: " + lib + " is missing";
            }
        }
        String m = t.getMessage();
        return "cannot load the CUDA bindings (" + t.getClass().getSimpleName() + (m == null ? "" : ": " + firstLine(m)) + ")";
    }

    static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}
