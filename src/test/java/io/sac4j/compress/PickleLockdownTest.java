package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.load.ModelConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The adapter unpickler executes nothing and trusts nothing: every global outside its allow-list
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.{Float,Half,BFloat16}Storage) is refused where it
 * is named, by either GLOBAL opcode, before any call happens, any storage is read or anything large is allocated;
 * REDUCE chains (calling what a call returned, or smuggling a forbidden callable into allowed arguments) are refused
 * too. The torch.save-made hostile fixtures are in {@link SacAdapterTest}; these are hand-assembled pickles.
 */
class PickleLockdownTest {
    static ModelConfig base;

    @BeforeAll
    static void setUp() {
        base = SacAdapterTest.bundledConfig();
    }

    /** Globals an attacker would reach for, and near misses of the allowed ones. */
    @ParameterizedTest
    @ValueSource(strings = {
            "builtins eval", "builtins exec", "builtins getattr", "builtins __import__", "builtins open", "builtins compile",
            "builtins setattr", "builtins globals", "__builtin__ eval", "__builtin__ execfile", "os system", "os popen",
            "os execv", "os remove", "posix system", "nt system", "subprocess Popen", "subprocess run", "subprocess call",
            "subprocess check_output", "shutil rmtree", "socket socket", "pty spawn", "runpy _run_code",
            "importlib import_module", "pickle loads", "_pickle loads", "marshal loads", "types FunctionType",
            "types CodeType", "functools partial", "operator attrgetter", "operator methodcaller", "codecs encode",
            "webbrowser open", "sys exit", "ctypes CDLL", "numpy.core.multiarray _reconstruct", "numpy load",
            "torch load", "torch.storage _load_from_bytes", "torch._utils _rebuild_tensor", "torch._utils _rebuild_parameter",
            "torch._utils _rebuild_qtensor", "torch._utils _rebuild_tensor_v3", "torch.nn Module", "torch Tensor",
            "torch ByteStorage", "torch LongStorage", "torch DoubleStorage", "torch IntStorage", "torch.serialization load",
            "collections defaultdict", "collections namedtuple", "collections OrderedDict.fromkeys", "Collections OrderedDict",
            "collections.OrderedDict __init__", "torch._utils._rebuild_tensor_v2 x", "torch FloatStorage.__new__",
            "torch._utils _rebuild_tensor_v2.__globals__", "torch.FloatStorage ", "torch float"})
    void everyGlobalOutsideTheAllowListIsRefused(String global, @TempDir Path tmp) throws IOException {
        String module = global.substring(0, global.indexOf(' ')), name = global.substring(global.indexOf(' ') + 1);
        // protocol 2 GLOBAL "module\nname\n", then a call: () REDUCE STOP
        byte[] viaGlobal = cat(hex("8002"), new byte[]{'c'}, ascii(module + "\n" + name + "\n"), hex("295229" + "2e"));
        // protocol 4 STACK_GLOBAL over two SHORT_BINUNICODE strings
        byte[] viaStack = cat(hex("8004"), shortString(module), shortString(name), hex("93"), hex("29522e"));
        for (byte[] pkl : new byte[][]{viaGlobal, viaStack}) {
            Path f = SacAdapterTest.archive(tmp.resolve("g" + pkl.length + ".pt"), pkl);
            String msg = refusedCheaply(f, pkl).getMessage();
            assertTrue(msg.contains("refused global "), msg);
            // the refusal names the global (printable characters only)
            assertTrue(msg.contains(name.replaceAll("[^A-Za-z0-9_.]", "?")), msg);
        }
    }

    @Test
    void reduceChainsAreRefused(@TempDir Path tmp) throws IOException {
        // OrderedDict() returns a dict; calling that dict again is not a thing a state dict does
        assertRefused(tmp, cat(hex("8002"), ascii("ccollections\nOrderedDict\n"), hex("2952" + "2952" + "2e")),
                "REDUCE on an OrderedDict is not allowed");
        // a forbidden callable inside the arguments of an allowed one is refused where it is named
        assertRefused(tmp, cat(hex("8002"), ascii("ctorch._utils\n_rebuild_tensor_v2\n("), ascii("cos\nsystem\n"),
                hex("58020000006c73"), hex("8552"), hex("742e")), "refused global os.system");
        // an allowed storage type is a class: calling it (instead of naming it in a persistent id) is refused
        assertRefused(tmp, cat(hex("8002"), ascii("ctorch\nFloatStorage\n"), hex("4b10"), hex("8552"), hex("2e")),
                "REDUCE on torch.FloatStorage is not allowed");
        // REDUCE whose callable is a string (getattr-style indirection) or a tuple
        assertRefused(tmp, cat(hex("8002"), hex("8c0673797374656d"), hex("2952"), hex("2e")), "REDUCE on string 'system'");
        assertRefused(tmp, cat(hex("8002"), hex("29"), hex("2952"), hex("2e")), "REDUCE on a 0-tuple is not allowed");
        // a persistent id that names a forbidden loader instead of a storage type
        assertRefused(tmp, cat(hex("8002"), hex("28"), shortString("storage"), ascii("ctorch.storage\n_load_from_bytes\n"),
                hex("742e")), "refused global torch.storage._load_from_bytes");
        // BUILD (setstate) on an allowed callable's result other than an OrderedDict
        assertRefused(tmp, cat(hex("8002"), hex("5d"), hex("7d"), hex("62"), hex("2e")), "BUILD on a list is not allowed");
        // INST, OBJ, NEWOBJ: the other ways to construct objects never run
        assertRefused(tmp, cat(hex("8002"), hex("28"), ascii("ios\nsystem\n"), hex("2e")), "opcode 0x69 (INST)");
        assertRefused(tmp, cat(hex("8002"), hex("28"), hex("6f"), hex("2e")), "opcode 0x6f (OBJ)");
        assertRefused(tmp, cat(hex("8002"), hex("29"), hex("29"), hex("81"), hex("2e")), "opcode 0x81 (NEWOBJ)");
    }

    /**
     * The pickle is vetted before any storage is read: with a forbidden global in data.pkl, a 64 MiB zip bomb in the
     * storage entry (and a 4 GiB string claimed after the global) cost nothing.
     */
    @Test
    void refusedBeforeAnyStorageIsReadOrAnythingLargeAllocated(@TempDir Path tmp) throws IOException {
        byte[] pkl = cat(hex("8002"), ascii("cos\nsystem\n"), hex("58f0ffffff"), hex("2e"));
        Path f = tmp.resolve("bomb.pt");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(f))) {
            ZipEntry bomb = new ZipEntry("archive/data/0"); // first in the archive, deflated
            bomb.setMethod(ZipEntry.DEFLATED);
            z.putNextEntry(bomb);
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) z.write(zeros);
            z.putNextEntry(new ZipEntry("archive/data.pkl"));
            z.write(pkl);
        }
        assertTrue(Files.size(f) < 1 << 20, "a small file that would inflate to 64 MiB");
        String msg = refusedCheaply(f, pkl).getMessage();
        assertTrue(msg.contains("refused global os.system"), msg);
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    /** Refused with a one-line message naming the file, having allocated little (no storage, no claimed size). */
    private static SacException refusedCheaply(Path f, byte[] pkl) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        SacException e = assertThrows(SacException.class, () -> SacAdapter.load(f, base));
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(allocated < (4 << 20) + 16L * pkl.length, "allocated " + allocated + " bytes before refusing");
        return e;
    }

    private static void assertRefused(Path tmp, byte[] pkl, String why) throws IOException {
        Path f = SacAdapterTest.archive(tmp.resolve("p" + System.nanoTime() + ".pt"), pkl);
        String msg = refusedCheaply(f, pkl).getMessage();
        assertTrue(msg.contains(why), () -> "\"" + msg + "\" lacks \"" + why + "\"");
    }

    private static byte[] hex(String h) {
        return HexFormat.of().parseHex(h);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] shortString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return cat(new byte[]{(byte) 0x8c, (byte) b.length}, b);
    }

    private static byte[] cat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }
}
