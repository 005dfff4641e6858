package io.sac4j.forward.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reasons CUDA is reported unavailable, from the failures JavaCPP and the linker really produce. */
class CudaProbeTest {
    /** What JavaCPP 1.5.14 threw on this project's build machine (no driver): the outer error hides the cause. */
    private static UnsatisfiedLinkError javacppFailure(String missing) {
        UnsatisfiedLinkError outer = new UnsatisfiedLinkError("no jnicudart in java.library.path: /usr/java/packages/lib:/usr/lib64:/lib64:/lib:/usr/lib");
        outer.initCause(new UnsatisfiedLinkError("/root/.javacpp/cache/cuda-13.3-9.25-1.5.14-linux-x86_64.jar/org/bytedeco/cuda/linux-x86_64/libjnicudart.so: "
                + missing + ": cannot open shared object file: No such file or directory"));
        return outer;
    }

    @Test
    void missingDriverIsNamed() {
        assertEquals("the NVIDIA driver (libcuda.so.1) is not installed", CudaProbe.explainLoadFailure(javacppFailure("libcuda.so.1")));
    }

    @Test
    void missingRuntimeIsNamed() {
        String reason = CudaProbe.explainLoadFailure(javacppFailure("libcudart.so.13"));
        assertTrue(reason.startsWith("the CUDA runtime (libcudart.so.13) is not installed"), reason);
    }

    @Test
    void otherMissingLibraryIsNamed() {
        assertEquals("cannot load the CUDA bindings: libcublasLt.so.13 is missing", CudaProbe.explainLoadFailure(javacppFailure("libcublasLt.so.13")));
    }

    @Test
    void unknownFailureKeepsItsFirstLine() {
        String reason = CudaProbe.explainLoadFailure(new UnsatisfiedLinkError("something odd\nsecond line"));
        assertEquals("cannot load the CUDA bindings (UnsatisfiedLinkError: something odd)", reason);
    }

    @Test
    void staticReasonsInOrder() {
        assertEquals(CudaProbe.NO_DRIVER, CudaProbe.staticReason(false, false));
        assertEquals(CudaProbe.NO_DRIVER, CudaProbe.staticReason(false, true));
        assertEquals("kernels not built (no fatbin in the jar: nvcc was not found at build time)", CudaProbe.staticReason(true, false));
        assertNull(CudaProbe.staticReason(true, true));
    }

    @Test
    void linkerCacheLookupMatchesWholeNamesOnly(@TempDir Path dir) throws IOException {
        Path cache = dir.resolve("ld.so.cache");
        Files.write(cache, "glibc-ld.so.cache1.1\0libcudart.so.13\0/usr/local/cuda/lib/libcudart.so.13\0libcuda.so.10\0".getBytes(StandardCharsets.US_ASCII));
        assertTrue(CudaProbe.inLinkerCache(cache, "libcudart.so.13"));
        assertFalse(CudaProbe.inLinkerCache(cache, "libcuda.so.1"), "libcuda.so.10 is not libcuda.so.1");
        Files.write(cache, "x\0/usr/lib/x86_64-linux-gnu/libcuda.so.1\0".getBytes(StandardCharsets.US_ASCII));
        assertTrue(CudaProbe.inLinkerCache(cache, "libcuda.so.1"));
        assertFalse(CudaProbe.inLinkerCache(dir.resolve("absent"), "libcuda.so.1"));
    }
}
