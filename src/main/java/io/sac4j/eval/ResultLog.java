package io.sac4j.eval;

import io.sac4j.load.JsonOut;
import io.sac4j.SacException;
import io.sac4j.load.Json;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The per-question results of an evaluation run: an append-only JSON-lines file, one object per answered question:
 * <pre>{"method":"sac","ratio":"5x","dataset":"SQuAD","qid":"...","prediction":"...","answers":[...],
 *  "f1":0.8,"em":0.0,"squad_f1":1.0,"squad_em":1.0, ...extra fields}</pre>
 * The writer flushes every line as it is written, so an interrupted run (Ctrl-C) loses nothing that was reported;
 * {@link #done} gives the (method, ratio, question id) keys already present, for --resume. A run killed in the
 * middle of a write leaves a last line without its newline: readers skip it when it does not parse, and
 * {@link #append} repairs the file before writing (completes the line if it parses, else cuts it off), so the next
 * record never lands on a torn line. One writer per file at a time.
 */
public final class ResultLog {
    private ResultLog() {
    }

    /** What --resume skips. */
    public record Key(String method, String ratio, String questionId) {
    }

    /**
     * One answered question. {@code scores} are derived from prediction and answers ({@link Metrics#score}) and
     * written for convenience; {@code extra} holds any other fields (timings, token counts), written after the fixed
     * ones and read back as parsed JSON values.
     */
    public record Record(String method, String ratio, String dataset, String questionId, String prediction,
                         List<String> answers, Metrics.Scores scores, Map<String, Object> extra) {
        public Record {
            Objects.requireNonNull(method, "method");
            Objects.requireNonNull(ratio, "ratio");
            Objects.requireNonNull(dataset, "dataset");
            Objects.requireNonNull(questionId, "questionId");
            Objects.requireNonNull(prediction, "prediction");
            answers = List.copyOf(answers);
            Objects.requireNonNull(scores, "scores");
            extra = extra == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(extra));
        }

        /** Scores the prediction. */
        public static Record of(String method, String ratio, String dataset, String questionId, String prediction,
                                List<String> answers, Map<String, Object> extra) {
            return new Record(method, ratio, dataset, questionId, prediction, answers,
                    Metrics.score(prediction, answers), extra);
        }

        public Key key() {
            return new Key(method, ratio, questionId);
        }

        String toJsonLine() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("method", method);
            m.put("ratio", ratio);
            m.put("dataset", dataset);
            m.put("qid", questionId);
            m.put("prediction", prediction);
            m.put("answers", answers);
            m.put("f1", scores.f1());
            m.put("em", scores.em());
            m.put("squad_f1", scores.squadF1());
            m.put("squad_em", scores.squadEm());
            for (Map.Entry<String, Object> e : extra.entrySet()) {
                if (FIXED.contains(e.getKey())) throw new IllegalArgumentException("extra field " + e.getKey()
                        + " clashes with a fixed field");
                m.put(e.getKey(), e.getValue());
            }
            return JsonOut.write(m);
        }
    }

    private static final Set<String> FIXED = Set.of("method", "ratio", "dataset", "qid", "prediction", "answers",
            "f1", "em", "squad_f1", "squad_em");

    /** Appends to {@code file} (created if missing) after repairing a torn last line. */
    public static Writer append(Path file) {
        repairTail(file);
        try {
            return new Writer(file, new BufferedWriter(new OutputStreamWriter(Files.newOutputStream(file,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE),
                    StandardCharsets.UTF_8.newEncoder())));
        } catch (IOException e) {
            throw new SacException(file.toString(), "cannot open for appending: " + e.getMessage(), e);
        }
    }

    public static final class Writer implements Closeable {
        private final Path file;
        private final BufferedWriter out;

        private Writer(Path file, BufferedWriter out) {
            this.file = file;
            this.out = out;
        }

        /** Writes one line and flushes it to the operating system. */
        public void write(Record r) {
            String line = r.toJsonLine() + "\n";
            try {
                out.write(line);
                out.flush();
            } catch (IOException e) {
                throw new SacException(file.toString(), "cannot write: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            try {
                out.close();
            } catch (IOException e) {
                throw new SacException(file.toString(), "cannot close: " + e.getMessage(), e);
            }
        }
    }

    /** All records of {@code file} in order (empty when it does not exist), skipping a torn last line. */
    public static List<Record> read(Path file) {
        List<Record> out = new ArrayList<>();
        String where = file.toString();
        try (ByteLines lines = new ByteLines(Files.newInputStream(file))) {
            for (byte[] line = lines.next(); line != null; line = lines.next()) {
                Record r = parse(line, where, lines.number(), lines.terminated());
                if (r != null) out.add(r);
            }
        } catch (NoSuchFileException e) {
            return out;
        } catch (IOException e) {
            throw new SacException(where, "read error: " + e.getMessage(), e);
        }
        return out;
    }

    /** The keys already in {@code file} (empty when it does not exist). */
    public static Set<Key> done(Path file) {
        Set<Key> keys = new LinkedHashSet<>();
        for (Record r : read(file)) keys.add(r.key());
        return keys;
    }

    /**
     * One line: a Record; null for a blank line, or for an unterminated last line that does not parse (a write cut
     * short). Any other bad line is an error: it was written completely, so the file is damaged.
     */
    private static Record parse(byte[] bytes, String where, long lineNo, boolean terminated) {
        String src = where + ": line " + lineNo;
        try {
            String text = ByteLines.decode(bytes);
            if (text.isBlank()) return null;
            return record(Json.parseObject(text, src), src);
        } catch (CharacterCodingException e) {
            if (!terminated) return null;
            throw new SacException(src, "invalid UTF-8");
        } catch (SacException e) {
            if (!terminated) return null;
            throw e;
        }
    }

    private static Record record(Map<String, Object> m, String src) {
        String method = str(m, "method", src);
        String ratio = str(m, "ratio", src);
        String dataset = str(m, "dataset", src);
        String qid = str(m, "qid", src);
        String prediction = str(m, "prediction", src);
        if (!(m.get("answers") instanceof List<?> raw) || raw.isEmpty()) {
            throw new SacException(src, "\"answers\" must be a non-empty list of strings");
        }
        List<String> answers = new ArrayList<>(raw.size());
        for (Object a : raw) {
            if (!(a instanceof String s)) throw new SacException(src, "\"answers\" must be a non-empty list of strings");
            answers.add(s);
        }
        Map<String, Object> extra = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : m.entrySet()) if (!FIXED.contains(e.getKey())) extra.put(e.getKey(), e.getValue());
        // scores are recomputed, not trusted from the file: the metric code is the authority
        return Record.of(method, ratio, dataset, qid, prediction, answers, extra);
    }

    private static String str(Map<String, Object> m, String key, String src) {
        if (m.get(key) instanceof String s) return s;
        throw new SacException(src, "\"" + key + "\" must be a string");
    }

    /** Makes sure the file ends with a newline: completes a torn last line that still parses, else cuts it off. */
    private static void repairTail(Path file) {
        String where = file.toString();
        if (!Files.exists(file)) return;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = ch.size();
            if (size == 0 || byteAt(ch, size - 1) == '\n') return;
            long start = size - 1;
            while (start > 0 && byteAt(ch, start - 1) != '\n') start--;
            ByteBuffer tail = ByteBuffer.allocate(Math.toIntExact(size - start));
            while (tail.hasRemaining()) {
                if (ch.read(tail, start + tail.position()) < 0) break;
            }
            Record r = parse(tail.array(), where, -1, false);
            if (r != null) {
                ch.write(ByteBuffer.wrap(new byte[] {'\n'}), size);
            } else {
                ch.truncate(start);
            }
            ch.force(false);
        } catch (IOException e) {
            throw new SacException(where, "cannot repair the last line: " + e.getMessage(), e);
        }
    }

    private static int byteAt(FileChannel ch, long pos) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1);
        if (ch.read(b, pos) != 1) throw new IOException("short read at " + pos);
        return b.get(0);
    }
}
