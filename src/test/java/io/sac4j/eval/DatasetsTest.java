package io.sac4j.eval;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class DatasetsTest {
    @TempDir
    Path tmp;

    private static List<Example> all(Path file) {
        return Datasets.read(file, -1);
    }

    @Test
    void squadDevHasItsPublishedCounts() {
        assumeTrue(EvalFixtures.haveSquadDev(), "shared SQuAD dev file not present");
        try (Datasets.Reader r = Datasets.open(EvalFixtures.squadDev())) {
            assertEquals(Datasets.Format.SQUAD_JSON, r.format());
            assertEquals("SQuAD", r.dataset());
            Set<String> titles = new HashSet<>();
            Set<String> ids = new HashSet<>();
            long paragraphs = 0;
            long questions = 0;
            long answers = 0;
            while (r.hasNext()) {
                Example e = r.next();
                paragraphs++;
                titles.add(e.contextId().substring(0, e.contextId().lastIndexOf('/')));
                for (Question q : e.questions()) {
                    questions++;
                    ids.add(q.id());
                    answers += q.answers().size();
                    assertFalse(q.question().isEmpty());
                }
            }
            // shared/data/README.md: 48 articles, 2,067 paragraphs, 10,570 questions
            assertEquals(48, titles.size());
            assertEquals(2067, paragraphs);
            assertEquals(10570, questions);
            assertEquals(10570, ids.size(), "question ids are unique");
            assertTrue(answers >= 3 * 10570, "dev questions carry at least three gold answers each: " + answers);
        }
    }

    @Test
    void gzippedAndPlainMrqaSamplesGiveTheSameQuestionsAsSquadJson() {
        Path gz = EvalFixtures.fixture("squad_sample.jsonl.gz");
        Path plain = EvalFixtures.fixture("squad_sample.jsonl");
        List<Example> a;
        List<Example> b;
        try (Datasets.Reader r = Datasets.open(gz)) {
            assertEquals(Datasets.Format.MRQA_JSONL, r.format());
            assertEquals("SQuAD", r.dataset());
            assertEquals("dev", r.split());
            a = r.take(-1);
        }
        try (Datasets.Reader r = Datasets.open(plain)) {
            assertEquals(Datasets.Format.MRQA_JSONL, r.format());
            assertEquals("SQuAD", r.dataset());
            assertEquals("dev", r.split(), "the older header key mrqa_split is accepted");
            b = r.take(-1);
        }
        // scripts/eval/make_mrqa_sample.py: 20 contexts, the plain one without "id" fields
        assertEquals(20, a.size());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals("line-" + (i + 2), b.get(i).contextId(), "no id: the line number (after the header)");
            assertEquals(a.get(i).context(), b.get(i).context());
            assertEquals(a.get(i).questions(), b.get(i).questions());
        }
        assertTrue(a.stream().mapToInt(e -> e.questions().size()).sum() > 100);

        assumeTrue(EvalFixtures.haveSquadDev(), "shared SQuAD dev file not present");
        Map<String, Example> squad = new HashMap<>();
        for (Example e : all(EvalFixtures.squadDev())) squad.put(e.contextId(), e);
        for (Example e : a) {
            Example s = squad.get(e.contextId());
            assertNotNull(s, "the sample's context id " + e.contextId() + " is the SQuAD reader's id");
            assertEquals(s, e, "same context, questions, answers (in order) from both layouts");
        }
    }

    @Test
    void limitStopsReadingEarly() throws IOException {
        Path gz = EvalFixtures.fixture("squad_sample.jsonl.gz");
        List<Example> ten = Datasets.read(gz, 10);
        assertEquals(10, ten.stream().mapToInt(e -> e.questions().size()).sum());
        List<Example> full = all(gz);
        assertEquals(full.get(0).questions().subList(0, Math.min(10, full.get(0).questions().size())),
                ten.get(0).questions().subList(0, Math.min(10, full.get(0).questions().size())));
        assertEquals(0, Datasets.read(gz, 0).size());

        // proof that nothing past the limit is read: the same file cut in half still serves the first 10 questions
        byte[] bytes = Files.readAllBytes(gz);
        Path half = tmp.resolve("half.jsonl.gz");
        Files.write(half, Arrays.copyOf(bytes, bytes.length / 2));
        assertEquals(ten, Datasets.read(half, 10));
    }

    @Test
    void truncatedGzipIsAOneLineErrorNamingTheLine() throws IOException {
        byte[] bytes = Files.readAllBytes(EvalFixtures.fixture("squad_sample.jsonl.gz"));
        Path cut = tmp.resolve("cut.jsonl.gz");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length * 3 / 5));
        SacException e = assertThrows(SacException.class, () -> all(cut));
        assertOneLine(e);
        assertTrue(e.getMessage().matches("\\Q" + cut + "\\E: line \\d+: truncated or corrupt gzip data \\(.*\\)"),
                e.getMessage());

        // a gzip stream cut inside its 8-byte trailer: all data is there, the end is not
        Path trailer = tmp.resolve("trailer.jsonl.gz");
        Files.write(trailer, Arrays.copyOf(bytes, bytes.length - 3));
        SacException t = assertThrows(SacException.class, () -> all(trailer));
        assertEquals(trailer + ": after line 21: truncated or corrupt gzip data (unexpected end of file)",
                t.getMessage(), "21 complete lines were read; the failure is not inside a 22nd");

        Path header = tmp.resolve("header.gz");
        Files.write(header, Arrays.copyOf(bytes, 5));
        SacException h = assertThrows(SacException.class, () -> all(header));
        assertOneLine(h);
        assertTrue(h.getMessage().startsWith(header + ": "), h.getMessage());
    }

    @Test
    void corruptGzipIsAOneLineError() throws IOException {
        byte[] bytes = Files.readAllBytes(EvalFixtures.fixture("squad_sample.jsonl.gz"));
        for (int i = bytes.length / 3; i < bytes.length / 3 + 64; i++) bytes[i] ^= 0x5a;
        Path bad = tmp.resolve("bad.jsonl.gz");
        Files.write(bad, bytes);
        SacException e = assertThrows(SacException.class, () -> all(bad));
        assertOneLine(e);
        assertTrue(e.getMessage().startsWith(bad + ": line "), e.getMessage());
    }

    @Test
    void aBadLineIsNamedByItsNumber() throws IOException {
        List<String> lines = Files.readAllLines(EvalFixtures.fixture("squad_sample.jsonl"));
        List<String> broken = new ArrayList<>(lines);
        broken.set(11, lines.get(11).substring(0, 300)); // line 12, cut mid-way
        Path f = write("broken.jsonl", broken);
        SacException e = assertThrows(SacException.class, () -> all(f));
        assertOneLine(e);
        assertTrue(e.getMessage().startsWith(f + ": line 12: invalid JSON at offset "), e.getMessage());

        // and, streaming, the 10 good contexts before it arrive first
        try (Datasets.Reader r = Datasets.open(f)) {
            for (int i = 0; i < 10; i++) r.next();
            SacException again = assertThrows(SacException.class, r::next);
            assertEquals(e.getMessage(), again.getMessage());
        }

        List<String> noQid = new ArrayList<>(lines);
        noQid.set(4, lines.get(4).replaceFirst("\"qid\"", "\"q_id\""));
        Path g = write("noqid.jsonl", noQid);
        assertMessage(g, g + ": line 5: qas[0].qid is missing");

        List<String> noAnswers = new ArrayList<>(lines);
        noAnswers.set(2, "{\"context\": \"c\", \"qas\": [{\"qid\": \"q\", \"question\": \"?\", \"answers\": []}]}");
        Path h = write("noanswers.jsonl", noAnswers);
        assertMessage(h, h + ": line 3: qas[0] (question q) has no answers (unanswerable questions cannot be scored)");

        List<String> dup = new ArrayList<>(lines);
        dup.add(lines.get(1));
        Path d = write("dup.jsonl", dup);
        SacException de = assertThrows(SacException.class, () -> all(d));
        assertTrue(de.getMessage().startsWith(d + ": line 22: qas[0]: duplicate question id "), de.getMessage());

        List<String> twoHeaders = new ArrayList<>(lines);
        twoHeaders.add(3, lines.get(0));
        Path th = write("twoheaders.jsonl", twoHeaders);
        assertMessage(th, th + ": line 4: a second MRQA header line");
    }

    @Test
    void squadJsonVariantsAndErrors() throws IOException {
        String qa = "{\"id\": \"q1\", \"question\": \"Who?\", \"answers\": [{\"text\": \"Me\", \"answer_start\": 0},"
                + " {\"text\": \"me\", \"answer_start\": 0}]}";
        String doc = "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": [{\"context\": \"Me.\","
                + " \"qas\": [" + qa + "]}]}]}";
        // single line, as the official files
        List<Example> one = all(write("one.json", List.of(doc)));
        assertEquals(List.of(new Example("T/0", "Me.", List.of(new Question("q1", "Who?", List.of("Me", "me"))))), one);
        // pretty-printed over several lines
        String pretty = doc.replace("{", "{\n  ").replace(", ", ",\n  ");
        assertEquals(one, all(write("pretty.json", List.of(pretty))));
        assertEquals(one, all(gzip("one.json.gz", doc)), "gzip is detected by content, for SQuAD too");

        Path cut = write("cut.json", List.of(doc.substring(0, doc.length() - 10)));
        SacException e = assertThrows(SacException.class, () -> all(cut));
        assertOneLine(e);
        assertTrue(e.getMessage().startsWith(cut + ": invalid JSON at offset "), e.getMessage());

        Path noId = write("noid.json", List.of(doc.replace("\"id\"", "\"uid\"")));
        assertMessage(noId, noId + ": data[0].paragraphs[0].qas[0].id is missing");
        Path badText = write("badtext.json", List.of(doc.replace("\"text\": \"Me\"", "\"text\": 5")));
        assertMessage(badText, badText + ": data[0].paragraphs[0].qas[0].answers[0].text must be a string");
        Path trailing = write("trailing.json", List.of(doc, "{}"));
        assertMessage(trailing, trailing + ": line 2: unexpected data after the SQuAD JSON document");
    }

    @Test
    void otherInputsAreRefusedClearly() throws IOException {
        assertMessage(tmp.resolve("missing.jsonl"), tmp.resolve("missing.jsonl") + ": no such file");
        Path empty = write("empty.jsonl", List.of("", "  "));
        assertMessage(empty, empty + ": empty file: expected SQuAD JSON or MRQA JSON lines");
        Path text = write("text.txt", List.of("hello"));
        assertMessage(text, text + ": line 1: expected a JSON object: this is neither SQuAD JSON nor MRQA JSON lines");
        Path other = write("other.json", List.of("{\"foo\": 1}"));
        assertMessage(other, other + ": line 1: neither an MRQA header or context line nor a SQuAD document"
                + " (no \"header\", \"context\" or \"data\" key)");
        Path noName = write("noname.jsonl", List.of("{\"header\": {\"split\": \"dev\"}}"));
        assertMessage(noName, noName + ": line 1: the MRQA header has no \"dataset\" name");

        List<String> lines = Files.readAllLines(EvalFixtures.fixture("squad_sample.jsonl"));
        byte[] good = (String.join("\n", lines.subList(0, 3)) + "\n").getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(good);
        o.write(new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', '}', '\n'});
        Path utf = tmp.resolve("utf.jsonl");
        Files.write(utf, o.toByteArray());
        assertMessage(utf, utf + ": line 4: invalid UTF-8");
    }

    @Test
    void headerlessMrqaLinesAreAccepted() throws IOException {
        List<String> lines = Files.readAllLines(EvalFixtures.fixture("squad_sample.jsonl"));
        Path f = write("my-set.jsonl", lines.subList(1, 4));
        try (Datasets.Reader r = Datasets.open(f)) {
            assertEquals("my-set", r.dataset(), "no header: the file name");
            assertNull(r.split());
            List<Example> got = r.take(-1);
            assertEquals(3, got.size());
            assertEquals("line-1", got.get(0).contextId());
            assertEquals(all(EvalFixtures.fixture("squad_sample.jsonl")).get(0).questions(), got.get(0).questions());
        }
    }

    @Test
    void streamClosesTheReader() {
        Datasets.Reader r = Datasets.open(EvalFixtures.fixture("squad_sample.jsonl.gz"));
        try (Stream<Example> s = r.stream()) {
            assertEquals(3, s.limit(3).count());
        }
        // closed: nothing more comes, and no exception
        assertTrue(r.take(-1).size() <= 1, "at most the already-read lookahead remains after close");
    }

    private Path write(String name, List<String> lines) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
        return p;
    }

    private Path gzip(String name, String text) throws IOException {
        Path p = tmp.resolve(name);
        try (GZIPOutputStream g = new GZIPOutputStream(Files.newOutputStream(p))) {
            g.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return p;
    }

    private static void assertMessage(Path file, String expected) {
        SacException e = assertThrows(SacException.class, () -> all(file));
        assertEquals(expected, e.getMessage());
        assertOneLine(e);
    }

    private static void assertOneLine(SacException e) {
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
