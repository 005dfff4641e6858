package io.sac4j.compress;

import io.sac4j.SacException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * The zip archive {@code torch.save} writes: {@code <prefix>/data.pkl} (the pickle), {@code <prefix>/data/<key>}
 * (raw tensor storages, normally STORED), {@code <prefix>/version} and, in newer torch, {@code <prefix>/byteorder}.
 * Every declared size is checked before anything is read: an entry may not claim more bytes than the file holds,
 * and a compressed (DEFLATED) storage may not claim more than its tensors need, so a zip bomb is refused instead of
 * inflated. Reads are bounded by the size asked for, never by what the archive says.
 */
final class ZipTorchArchive implements AutoCloseable {
    /** data.pkl of a real state dict is kilobytes (about 80 bytes a tensor); anything near this is not one. */
    static final long MAX_PICKLE_BYTES = 4L << 20;
    /** One Java array holds at most this many bytes. */
    static final long MAX_STORAGE_BYTES = Integer.MAX_VALUE - 16;

    private final String src;
    private final ZipFile zip;
    private final long fileSize;
    private final String prefix;

    private ZipTorchArchive(String src, ZipFile zip, long fileSize, String prefix) {
        this.src = src;
        this.zip = zip;
        this.fileSize = fileSize;
        this.prefix = prefix;
    }

    static ZipTorchArchive open(Path file) {
        String src = file.toString();
        ZipFile zip;
        long size;
        try {
            size = Files.size(file);
            zip = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw new SacException(src, "not a valid zip archive (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new SacException(src, "cannot read: " + e.getMessage(), e);
        }
        try {
            List<String> pickles = new ArrayList<>();
            Enumeration<? extends ZipEntry> en = zip.entries();
            while (en.hasMoreElements()) {
                String name = en.nextElement().getName();
                int slash = name.indexOf('/');
                if (slash > 0 && name.substring(slash).equals("/data.pkl")) pickles.add(name);
            }
            if (pickles.isEmpty())
                throw new SacException(src, "no <name>/data.pkl in the zip archive: not a torch.save file");
            if (pickles.size() > 1)
                throw new SacException(src, "the zip archive holds " + pickles.size() + " data.pkl entries ("
                        + pickles.get(0) + ", " + pickles.get(1) + "): not a single torch.save file");
            String p = pickles.getFirst();
            return new ZipTorchArchive(src, zip, size, p.substring(0, p.length() - "data.pkl".length()));
        } catch (IllegalArgumentException e) { // entry names that are not valid UTF-8
            closeQuietly(zip);
            throw new SacException(src, "corrupt zip archive (" + e.getMessage() + ")");
        } catch (RuntimeException e) {
            closeQuietly(zip);
            throw e;
        }
    }

    /** The bytes of data.pkl. */
    byte[] pickle() {
        ZipEntry e = zip.getEntry(prefix + "data.pkl");
        long size = checkedSize(e, MAX_PICKLE_BYTES);
        return read(e, size, size);
    }

    /** The storages' byte order: little unless a {@code byteorder} entry says "big". */
    ByteOrder byteOrder() {
        ZipEntry e = zip.getEntry(prefix + "byteorder");
        if (e == null) return ByteOrder.LITTLE_ENDIAN;
        long size = checkedSize(e, 16);
        String s = new String(read(e, size, size), StandardCharsets.US_ASCII).strip();
        return switch (s) {
            case "little" -> ByteOrder.LITTLE_ENDIAN;
            case "big" -> ByteOrder.BIG_ENDIAN;
            default -> throw new SacException(src, "unknown byteorder '" + s.replaceAll("[^ -~]", "?") + "' in " + e.getName());
        };
    }

    /**
     * Checks that storage {@code key} is in the archive with the size its pickle declares, and refuses a compressed
     * storage that would inflate to more than its tensors use. Reads nothing.
     *
     * @param declaredBytes the storage's element count times its element size, from the pickle
     * @param neededBytes   what the tensors on this storage reach (offset + elements, in bytes), at most declared
     */
    void checkStorage(String key, long declaredBytes, long neededBytes) {
        ZipEntry e = storageEntry(key);
        long size = checkedSize(e, Long.MAX_VALUE);
        if (size != declaredBytes)
            throw new SacException(src, "archive entry " + e.getName() + " has " + size + " bytes, but the pickle declares "
                    + declaredBytes + " bytes for storage " + key);
        if (e.getMethod() != ZipEntry.STORED && size > neededBytes)
            throw new SacException(src, "compressed storage " + e.getName() + " declares " + size + " bytes, but its tensors need only "
                    + neededBytes + " (refusing a possible zip bomb)");
        if (neededBytes > MAX_STORAGE_BYTES)
            throw new SacException(src, "storage " + key + " needs " + neededBytes + " bytes, more than one array can hold");
    }

    /** The first {@code neededBytes} of storage {@code key}; {@link #checkStorage} must have accepted it. */
    byte[] storage(String key, long declaredBytes, long neededBytes) {
        checkStorage(key, declaredBytes, neededBytes);
        ZipEntry e = storageEntry(key);
        return read(e, e.getSize(), neededBytes);
    }

    private ZipEntry storageEntry(String key) {
        String name = prefix + "data/" + key;
        ZipEntry e = zip.getEntry(name);
        if (e == null) throw new SacException(src, "storage " + key + " is missing from the archive (no entry " + name + ")");
        return e;
    }

    /** The entry's uncompressed size, refused when unknown, over {@code limit} or impossible for this file. */
    private long checkedSize(ZipEntry e, long limit) {
        long size = e.getSize(), packed = e.getCompressedSize();
        if (size < 0 || packed < 0) throw new SacException(src, "archive entry " + e.getName() + " does not declare its size");
        if (packed > fileSize)
            throw new SacException(src, "archive entry " + e.getName() + " declares " + packed + " compressed bytes, but the file has "
                    + fileSize + " (truncated or corrupt)");
        if (e.getMethod() == ZipEntry.STORED && size != packed)
            throw new SacException(src, "stored archive entry " + e.getName() + " declares " + size + " bytes but occupies " + packed);
        if (e.getMethod() != ZipEntry.STORED && e.getMethod() != ZipEntry.DEFLATED)
            throw new SacException(src, "archive entry " + e.getName() + " uses compression method " + e.getMethod()
                    + " (only stored and deflated are supported)");
        if (size > limit)
            throw new SacException(src, "archive entry " + e.getName() + " declares " + size + " bytes, more than the "
                    + limit + " allowed");
        return size;
    }

    /** Reads exactly {@code n} (<= size) bytes of an entry. */
    private byte[] read(ZipEntry e, long size, long n) {
        try (InputStream in = zip.getInputStream(e)) {
            byte[] out = in.readNBytes((int) n);
            if (out.length != n)
                throw new SacException(src, "archive entry " + e.getName() + " ends after " + out.length + " of its " + size
                        + " bytes (truncated or corrupt)");
            // java.util.zip checks the CRC of inflated entries only; a flipped byte in a stored tensor is caught here
            if (n == size && e.getCrc() != -1) {
                CRC32 crc = new CRC32();
                crc.update(out);
                if (crc.getValue() != e.getCrc())
                    throw new SacException(src, "archive entry " + e.getName() + " fails its CRC check (corrupt)");
            }
            return out;
        } catch (ZipException ex) {
            throw new SacException(src, "archive entry " + e.getName() + " is corrupt (" + ex.getMessage() + ")");
        } catch (IOException ex) {
            throw new SacException(src, "cannot read archive entry " + e.getName() + ": " + ex.getMessage(), ex);
        }
    }

    @Override
    public void close() {
        closeQuietly(zip);
    }

    private static void closeQuietly(ZipFile z) {
        try {
            z.close();
        } catch (IOException ignored) {
            // read-only: nothing is lost
        }
    }
}
