package io.sac4j.eval;

import io.sac4j.SacException;
import io.sac4j.load.Json;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Readers for the two question-answering layouts, told apart by content, not by file name:
 * <ul>
 * <li><b>SQuAD v1.1 JSON</b>: one document {"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
 *     "question", "answers": [{"text", "answer_start"}]}]}]}]} (the whole document is parsed: SQuAD files are a
 *     few MB). Dataset name "SQuAD". Context ids "title/paragraph-index".</li>
 * <li><b>MRQA JSON lines</b>, gzipped or plain: a header line {"header": {"dataset", "split"}} ("mrqa_split" is
 *     also accepted), then one line per context {"context", "qas": [{"qid", "question", "answers": [strings],
 *     "detected_answers"}]}. Read one line at a time: a large file is never held in memory. Dataset name from the
 *     header (from the file name when there is no header line). Context ids: the line's "id" when present, else
 *     "line-N".</li>
 * </ul>
 * Gzip is recognised by its magic bytes, for either layout. Every problem is a one-line {@link SacException}
 * naming the file and, for JSON lines, the line: "squad.jsonl.gz: line 12: ...". Question ids must be unique
 * within a file (results and --resume are keyed by them); a question without answers is refused (the paper's
 * metrics need answers[0]).
 */
public final class Datasets {
    public enum Format { SQUAD_JSON, MRQA_JSONL }

    private static final Pattern SQUAD_START = Pattern.compile("^\\{\\s*(\"(version|data)\".*)?$");

    private Datasets() {
    }

    /** Opens {@code file} for lazy reading; close it (try-with-resources) when stopping early. */
    public static Reader open(Path file) {
        return new Reader(file);
    }

    /**
     * The contexts of {@code file} up to {@code maxQuestions} questions in all (the last context keeps only the
     * questions that fit; negative = no limit). Stops reading as soon as the limit is reached.
     */
    public static List<Example> read(Path file, long maxQuestions) {
        try (Reader r = open(file)) {
            return r.take(maxQuestions);
        }
    }

    /** A lazy iterator over the contexts of one file. Not thread-safe. */
    public static final class Reader implements Iterator<Example>, Closeable {
        private final String where;
        private ByteLines in;
        private long lineNo;
        private final Format format;
        private final String dataset;
        private final String split;
        private final Set<String> questionIds = new HashSet<>();
        private final Set<String> contextIds = new HashSet<>();
        private final Set<String> titles = new HashSet<>();
        private Example next;
        private boolean done;
        // MRQA: a headerless file's first line, already parsed
        private Map<String, Object> pending;
        private long pendingLine;
        // SQuAD: the parsed "data" array and the position in it
        private List<Object> data;
        private int article;
        private int paragraph;
        private String title;

        private Reader(Path file) {
            this.where = file.toString();
            InputStream raw;
            try {
                raw = Files.newInputStream(file);
            } catch (NoSuchFileException e) {
                throw new SacException(where, "no such file");
            } catch (IOException e) {
                throw new SacException(where, "cannot open: " + e.getMessage(), e);
            }
            boolean ok = false;
            try {
                in = new ByteLines(maybeGunzip(raw));
                String first = readLine();
                while (first != null && first.isBlank()) first = readLine();
                if (first == null) throw new SacException(where, "empty file: expected SQuAD JSON or MRQA JSON lines");
                if (lineNo == 1 && first.startsWith("\uFEFF")) first = first.substring(1);
                String head = first.strip();
                if (!head.startsWith("{")) {
                    throw new SacException(where, "line " + lineNo + ": expected a JSON object: this is neither "
                            + "SQuAD JSON nor MRQA JSON lines");
                }
                Map<String, Object> obj = null;
                SacException lineError = null;
                try {
                    obj = Json.parseObject(first, at(lineNo));
                } catch (SacException e) {
                    lineError = e;
                }
                if (obj == null) {
                    // a pretty-printed SQuAD document does not parse line by line; anything else is a bad line
                    if (!SQUAD_START.matcher(head).matches()) throw lineError;
                    format = Format.SQUAD_JSON;
                    dataset = "SQuAD";
                    split = null;
                    StringBuilder text = new StringBuilder(first).append('\n');
                    for (String l = readLine(); l != null; l = readLine()) text.append(l).append('\n');
                    startSquad(Json.parseObject(text.toString(), where));
                } else if (obj.containsKey("header")) {
                    format = Format.MRQA_JSONL;
                    Object h = obj.get("header");
                    if (!(h instanceof Map<?, ?>)) throw new SacException(at(lineNo), "\"header\" must be an object");
                    @SuppressWarnings("unchecked") Map<String, Object> header = (Map<String, Object>) h;
                    dataset = Json.string(header, "dataset", null, at(lineNo));
                    if (dataset == null || dataset.isBlank()) {
                        throw new SacException(at(lineNo), "the MRQA header has no \"dataset\" name");
                    }
                    String s = Json.string(header, "split", null, at(lineNo));
                    split = s != null ? s : Json.string(header, "mrqa_split", null, at(lineNo));
                } else if (obj.containsKey("data")) {
                    format = Format.SQUAD_JSON;
                    dataset = "SQuAD";
                    split = null;
                    for (String l = readLine(); l != null; l = readLine()) {
                        if (!l.isBlank()) {
                            throw new SacException(at(lineNo), "unexpected data after the SQuAD JSON document");
                        }
                    }
                    startSquad(obj);
                } else if (obj.containsKey("context") || obj.containsKey("qas")) {
                    format = Format.MRQA_JSONL;
                    dataset = baseName(file);
                    split = null;
                    pending = obj;
                    pendingLine = lineNo;
                } else {
                    throw new SacException(at(lineNo), "neither an MRQA header or context line nor a SQuAD "
                            + "document (no \"header\", \"context\" or \"data\" key)");
                }
                ok = true;
            } finally {
                if (!ok) close();
            }
        }

        /** "SQuAD", or the MRQA header's dataset name. */
        public String dataset() {
            return dataset;
        }

        /** The MRQA header's split ("dev", "test", ...), or null. */
        public String split() {
            return split;
        }

        public Format format() {
            return format;
        }

        @Override
        public boolean hasNext() {
            if (next == null && !done) {
                next = format == Format.SQUAD_JSON ? nextSquad() : nextMrqa();
                if (next == null) {
                    done = true;
                    close();
                }
            }
            return next != null;
        }

        @Override
        public Example next() {
            if (!hasNext()) throw new NoSuchElementException();
            Example e = next;
            next = null;
            return e;
        }

        /** Up to {@code maxQuestions} questions (negative = all), then stops reading. */
        public List<Example> take(long maxQuestions) {
            long left = maxQuestions < 0 ? Long.MAX_VALUE : maxQuestions;
            List<Example> out = new ArrayList<>();
            while (left > 0 && hasNext()) {
                Example e = next();
                if (e.questions().size() > left) {
                    e = new Example(e.contextId(), e.context(), e.questions().subList(0, (int) left));
                }
                out.add(e);
                left -= e.questions().size();
            }
            return out;
        }

        /** The remaining contexts as a stream; closing the stream closes the reader. */
        public Stream<Example> stream() {
            return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED), false)
                    .onClose(this::close);
        }

        @Override
        public void close() {
            if (in != null) {
                try {
                    in.close();
                } catch (IOException ignored) {
                    // nothing was written; a failing close of an input cannot lose data
                }
                in = null;
            }
        }

        // ---------------------------------------------------------------- MRQA

        private Example nextMrqa() {
            if (pending != null) {
                Map<String, Object> o = pending;
                pending = null;
                return mrqaExample(o, pendingLine);
            }
            if (in == null) return null;
            String line;
            do {
                line = readLine();
                if (line == null) return null;
            } while (line.isBlank());
            Map<String, Object> o = Json.parseObject(line, at(lineNo));
            if (o.containsKey("header")) throw new SacException(at(lineNo), "a second MRQA header line");
            return mrqaExample(o, lineNo);
        }

        private Example mrqaExample(Map<String, Object> o, long line) {
            String src = at(line);
            String context = requireString(o.get("context"), src, "\"context\"");
            Object id = o.get("id");
            String contextId = id instanceof String s && !s.isEmpty() ? s : "line-" + line;
            List<Object> qas = requireList(o.get("qas"), src, "\"qas\"");
            List<Question> questions = new ArrayList<>(qas.size());
            for (int k = 0; k < qas.size(); k++) {
                String q = "qas[" + k + "]";
                Map<String, Object> qa = requireObject(qas.get(k), src, q);
                String qid = requireString(qa.get("qid"), src, q + ".qid");
                String question = requireString(qa.get("question"), src, q + ".question");
                List<Object> raw = requireList(qa.get("answers"), src, q + ".answers");
                List<String> answers = new ArrayList<>(raw.size());
                for (int a = 0; a < raw.size(); a++) {
                    answers.add(requireString(raw.get(a), src, q + ".answers[" + a + "]"));
                }
                questions.add(question(qid, question, answers, src, q));
            }
            return example(contextId, context, questions, src);
        }

        // ---------------------------------------------------------------- SQuAD

        private void startSquad(Map<String, Object> doc) {
            data = requireList(doc.get("data"), where, "\"data\"");
        }

        private Example nextSquad() {
            while (article < data.size()) {
                String a = "data[" + article + "]";
                Map<String, Object> art = requireObject(data.get(article), where, a);
                if (paragraph == 0) {
                    Object t = art.get("title");
                    String base = t instanceof String s && !s.isEmpty() ? s : "article-" + article;
                    // titles are unique in the official files; keep context ids unique even if they are not
                    title = titles.add(base) ? base : base + "#" + article;
                }
                List<Object> paragraphs = requireList(art.get("paragraphs"), where, a + ".paragraphs");
                if (paragraph >= paragraphs.size()) {
                    article++;
                    paragraph = 0;
                    continue;
                }
                int p = paragraph++;
                String pp = a + ".paragraphs[" + p + "]";
                Map<String, Object> par = requireObject(paragraphs.get(p), where, pp);
                String context = requireString(par.get("context"), where, pp + ".context");
                List<Object> qas = requireList(par.get("qas"), where, pp + ".qas");
                List<Question> questions = new ArrayList<>(qas.size());
                for (int k = 0; k < qas.size(); k++) {
                    String q = pp + ".qas[" + k + "]";
                    Map<String, Object> qa = requireObject(qas.get(k), where, q);
                    String id = requireString(qa.get("id"), where, q + ".id");
                    String question = requireString(qa.get("question"), where, q + ".question");
                    List<Object> raw = requireList(qa.get("answers"), where, q + ".answers");
                    List<String> answers = new ArrayList<>(raw.size());
                    for (int i = 0; i < raw.size(); i++) {
                        String ai = q + ".answers[" + i + "]";
                        answers.add(requireString(requireObject(raw.get(i), where, ai).get("text"), where,
                                ai + ".text"));
                    }
                    questions.add(question(id, question, answers, where, q));
                }
                return example(title + "/" + p, context, questions, where);
            }
            return null;
        }

        // ---------------------------------------------------------------- shared

        private Question question(String id, String question, List<String> answers, String src, String what) {
            if (answers.isEmpty()) {
                throw new SacException(src, what + " (question " + id + ") has no answers (unanswerable questions "
                        + "cannot be scored)");
            }
            if (!questionIds.add(id)) throw new SacException(src, what + ": duplicate question id " + id);
            return new Question(id, question, answers);
        }

        private Example example(String contextId, String context, List<Question> questions, String src) {
            if (!contextIds.add(contextId)) throw new SacException(src, "duplicate context id " + contextId);
            return new Example(contextId, context, questions);
        }

        private String at(long line) {
            return where + ": line " + line;
        }

        private String readLine() {
            if (in == null) return null;
            byte[] bytes;
            try {
                bytes = in.next();
            } catch (EOFException | ZipException e) {
                throw new SacException(failedAt(), "truncated or corrupt gzip data (" + reason(e) + ")");
            } catch (IOException e) {
                throw new SacException(failedAt(), "read error: " + reason(e), e);
            }
            if (bytes == null) return null;
            lineNo = in.number();
            try {
                return ByteLines.decode(bytes);
            } catch (CharacterCodingException e) {
                throw new SacException(at(lineNo), "invalid UTF-8");
            }
        }

        /** Where a read failed: inside line N, or between lines (e.g. in the gzip trailer after the last one). */
        private String failedAt() {
            if (lineNo == 0 || in.failedInsideALine()) return at(lineNo + 1);
            return where + ": after line " + lineNo;
        }

        private InputStream maybeGunzip(InputStream raw) {
            try {
                BufferedInputStream b = new BufferedInputStream(raw, 1 << 16);
                b.mark(2);
                int m0 = b.read();
                int m1 = b.read();
                b.reset();
                if (m0 == 0x1f && m1 == 0x8b) return new GZIPInputStream(b, 1 << 16);
                return b;
            } catch (EOFException | ZipException e) {
                throw new SacException(where, "truncated or corrupt gzip header (" + reason(e) + ")");
            } catch (IOException e) {
                throw new SacException(where, "read error: " + reason(e), e);
            }
        }
    }

    private static String reason(IOException e) {
        return e.getMessage() != null ? e.getMessage() : e instanceof EOFException ? "unexpected end of file"
                : e.getClass().getSimpleName();
    }

    private static String baseName(Path file) {
        String n = file.getFileName().toString();
        for (String ext : new String[] {".gz", ".jsonl", ".json"}) {
            if (n.endsWith(ext) && n.length() > ext.length()) n = n.substring(0, n.length() - ext.length());
        }
        return n;
    }

    private static String requireString(Object v, String src, String what) {
        if (v instanceof String s) return s;
        throw new SacException(src, what + (v == null ? " is missing" : " must be a string"));
    }

    @SuppressWarnings("unchecked")
    private static List<Object> requireList(Object v, String src, String what) {
        if (v instanceof List<?> l) return (List<Object>) l;
        throw new SacException(src, what + (v == null ? " is missing" : " must be a list"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> requireObject(Object v, String src, String what) {
        if (v instanceof Map<?, ?> m) return (Map<String, Object>) m;
        throw new SacException(src, what + " must be an object");
    }
}
