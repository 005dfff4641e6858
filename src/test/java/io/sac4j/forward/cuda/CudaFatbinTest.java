package io.sac4j.forward.cuda;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The kernels the build put in the jar: where the pom's "cuda" profile ran (nvcc installed) it sets
 * sac.cuda.fatbin=required and the fatbin must be there, with machine code for sm_80 and sm_90, compute_90 PTX,
 * and every kernel Java launches; without nvcc there is none and the CUDA backend says so.
 */
class CudaFatbinTest {

    private static byte[] fatbinOrSkip() throws IOException {
        byte[] image = CudaProbe.fatbin();
        if ("required".equals(System.getProperty("sac.cuda.fatbin")))
            assertNotNull(image, "nvcc was found at build time, but " + CudaProbe.FATBIN_RESOURCE + " is missing");
        assumeTrue(image != null, "no fatbin: built without nvcc");
        return image;
    }

    @Test
    void fatbinHasSm80Sm90AndPtx() throws IOException {
        List<Fatbin.Entry> entries = Fatbin.entries(fatbinOrSkip(), "fatbin");
        List<String> kinds = entries.stream().map(e -> e.kind() + " " + e.arch()).sorted().toList();
        assertEquals(List.of("ELF 80", "ELF 90", "PTX 90"), kinds, entries.toString());
    }

    @Test
    void everyKernelIsInEveryMachineCodeImage() throws IOException {
        byte[] image = fatbinOrSkip();
        for (Fatbin.Entry e : Fatbin.entries(image, "fatbin")) {
            if (e.kind() != Fatbin.Kind.ELF) continue;
            assertFalse(e.compressed(), e + " is compressed; this check reads symbol names");
            byte[] elf = Arrays.copyOfRange(image, (int) e.offset(), (int) (e.offset() + e.size()));
            String text = new String(elf, StandardCharsets.ISO_8859_1);
            for (String k : Kernels.NAMES) assertTrue(text.contains(k + "\0"), k + " is missing from " + e);
        }
    }

    @Test
    void runsOnPicksCompatibleCode() {
        List<Fatbin.Entry> ours = List.of(new Fatbin.Entry(Fatbin.Kind.ELF, 80, 0, 0, false),
                new Fatbin.Entry(Fatbin.Kind.ELF, 90, 0, 0, false), new Fatbin.Entry(Fatbin.Kind.PTX, 90, 0, 0, true));
        assertTrue(Fatbin.runsOn(ours, 8, 0));
        assertTrue(Fatbin.runsOn(ours, 8, 6), "sm_80 code runs on sm_86");
        assertTrue(Fatbin.runsOn(ours, 9, 0));
        assertTrue(Fatbin.runsOn(ours, 12, 0), "compute_90 PTX is compiled for newer GPUs");
        assertFalse(Fatbin.runsOn(ours, 7, 5));
        assertFalse(Fatbin.runsOn(List.of(ours.get(1)), 8, 9), "sm_90 code does not run on sm_89");
    }

    @Test
    void badImagesAreRejectedWithTheirProblem() {
        SacException e = assertThrows(SacException.class, () -> Fatbin.entries(new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, "x.fatbin"));
        assertEquals("x.fatbin: not a CUDA fatbin (magic 0x04030201, expected 0xBA55ED50)", e.getMessage());
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(Fatbin.MAGIC).putShort((short) 1).putShort((short) 16).putLong(100);
        e = assertThrows(SacException.class, () -> Fatbin.entries(b.array(), "x.fatbin"));
        assertEquals("x.fatbin: fatbin is truncated: 16 bytes, header says 116", e.getMessage());
    }
}
