package io.sac4j.forward.cuda;

import io.sac4j.SacException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The table of contents of a CUDA fatbin (what cuobjdump --list-elf / --list-ptx print): a 16-byte header
 * (magic 0xBA55ED50, version, header size, payload size) followed by entries, each a header (kind 1 = PTX,
 * 2 = ELF machine code; its own header size; payload size; the target at byte 28) and its payload.
 */
public final class Fatbin {
    public static final int MAGIC = 0xBA55ED50;

    public enum Kind { PTX, ELF }

    /** One embedded image: PTX for compute_{arch}, or machine code for sm_{arch}. */
    public record Entry(Kind kind, int arch, long offset, long size, boolean compressed) {
        @Override
        public String toString() {
            return (kind == Kind.ELF ? "sm_" : "compute_") + arch + (kind == Kind.PTX ? " PTX" : " ELF") + (compressed ? " (compressed)" : "");
        }
    }

    private Fatbin() {
    }

    public static List<Entry> entries(byte[] image, String source) {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        if (image.length < 16 || b.getInt(0) != MAGIC)
            throw new SacException(source, "not a CUDA fatbin (magic " + (image.length < 4 ? "missing" : String.format("0x%08X", b.getInt(0))) + ", expected 0xBA55ED50)");
        int headerSize = Short.toUnsignedInt(b.getShort(6));
        long end = headerSize + b.getLong(8);
        if (end > image.length) throw new SacException(source, "fatbin is truncated: " + image.length + " bytes, header says " + end);
        List<Entry> out = new ArrayList<>();
        long off = headerSize;
        while (off < end) {
            if (off + 48 > end) throw new SacException(source, "fatbin entry at byte " + off + " is truncated");
            int o = (int) off;
            int kind = Short.toUnsignedInt(b.getShort(o));
            long entryHeader = Integer.toUnsignedLong(b.getInt(o + 4)), payload = b.getLong(o + 8);
            int arch = b.getInt(o + 28);
            if (kind != 1 && kind != 2) throw new SacException(source, "fatbin entry at byte " + off + " has unknown kind " + kind);
            if (entryHeader < 48 || payload < 0 || off + entryHeader + payload > end)
                throw new SacException(source, "fatbin entry at byte " + off + " has a bad size");
            int p = (int) (off + entryHeader);
            // compressed payloads (nvcc compresses PTX with zstd) start with neither "\x7fELF" nor text
            boolean compressed = kind == 2 ? payload < 4 || b.getInt(p) != 0x464C457F : payload < 1 || image[p] < 0x09 || image[p] > 0x7e;
            out.add(new Entry(kind == 1 ? Kind.PTX : Kind.ELF, arch, p, payload, compressed));
            off += entryHeader + payload;
        }
        return out;
    }

    /** Whether the image can run on a GPU of compute capability {@code major.minor}. */
    public static boolean runsOn(List<Entry> entries, int major, int minor) {
        int cc = major * 10 + minor;
        for (Entry e : entries) {
            // machine code runs on the same major version at an equal or higher minor; PTX on anything newer
            if (e.kind() == Kind.ELF && e.arch() / 10 == major && e.arch() <= cc) return true;
            if (e.kind() == Kind.PTX && e.arch() <= cc) return true;
        }
        return false;
    }
}
