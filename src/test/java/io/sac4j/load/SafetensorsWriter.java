package io.sac4j.load;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/** Test helper: writes safetensors files, so tests can split, edit and corrupt the fixtures. */
final class SafetensorsWriter {
    record Item(String name, String dtype, long[] shape, byte[] data) {
        Item withShape(long... s) {
            return new Item(name, dtype, s, data);
        }

        Item withDtype(String d) {
            return new Item(name, d, shape, data);
        }
    }

    private SafetensorsWriter() {
    }

    /** All tensors of a file, in header order, with their raw bytes. */
    static List<Item> read(Path file) {
        List<Item> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, a);
            for (String n : f.names()) {
                SafetensorsFile.Entry e = f.entry(n);
                out.add(new Item(n, e.dtype(), e.shape(), f.tensor(n).data().toArray(ValueLayout.JAVA_BYTE)));
            }
        }
        return out;
    }

    /** The header JSON the items would get (offsets in list order). */
    static String header(List<Item> items) {
        long pos = 0;
        List<String> parts = new ArrayList<>();
        for (Item t : items) {
            String shape = Arrays.stream(t.shape()).mapToObj(Long::toString).collect(Collectors.joining(","));
            parts.add("\"" + t.name() + "\":{\"dtype\":\"" + t.dtype() + "\",\"shape\":[" + shape
                    + "],\"data_offsets\":[" + pos + "," + (pos + t.data().length) + "]}");
            pos += t.data().length;
        }
        return "{" + String.join(",", parts) + "}";
    }

    static byte[] bytes(List<Item> items) {
        return bytes(header(items), items);
    }

    /** A file with the given header text and the items' data concatenated. */
    static byte[] bytes(String header, List<Item> items) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        out.writeBytes(h);
        for (Item t : items) out.writeBytes(t.data());
        return out.toByteArray();
    }

    static Path write(Path file, List<Item> items) {
        return LoadFixtures.write(file, bytes(items));
    }
}
