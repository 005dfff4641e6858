package io.sac4j.eval;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class ResultLogTest {
    @TempDir
    Path tmp;

    private static ResultLog.Record rec(String qid, String pred, String... answers) {
        return ResultLog.Record.of("sac", "5x", "SQuAD", qid, pred, List.of(answers), null);
    }

    @Test
    void recordsRoundTripIncludingAwkwardText() throws IOException {
        Path f = tmp.resolve("results.jsonl");
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("compress_ms", 12.5);
        extra.put("new_tokens", 7L);
        extra.put("note", null);
        List<ResultLog.Record> written = List.of(
                rec("q1", "Denver Broncos", "Denver Broncos", "Broncos"),
                rec("q2", "line\nbreak \"quoted\" \\ tab\t \u2028 caf\u00e9 \u5317\u4eac \uD83C\uDF89", "x"),
                rec("q3", "lone \uD800 surrogate", "lone \uD800 surrogate"),
                rec("q4", "", "the"),
                ResultLog.Record.of("icae", "15x", "NewsQA", "q1", "y", List.of("y"), extra));
        try (ResultLog.Writer w = ResultLog.append(f)) {
            for (ResultLog.Record r : written) w.write(r);
        }
        List<ResultLog.Record> read = ResultLog.read(f);
        assertEquals(written, read);
        assertEquals(1.0, read.get(2).scores().em(), "the lone surrogate survived the UTF-8 file");
        assertEquals(extra, read.get(4).extra());
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            assertTrue(line.startsWith("{\"method\":"), line);
        }
    }

    @Test
    void everyLineIsOnDiskAsSoonAsItIsWritten() throws IOException {
        Path f = tmp.resolve("results.jsonl");
        try (ResultLog.Writer w = ResultLog.append(f)) {
            w.write(rec("q1", "a", "a"));
            assertEquals(1, Files.readAllLines(f).size(), "flushed before close");
            w.write(rec("q2", "b", "b"));
            assertEquals(Set.of(new ResultLog.Key("sac", "5x", "q1"), new ResultLog.Key("sac", "5x", "q2")),
                    ResultLog.done(f));
        }
        // appending keeps what is there
        try (ResultLog.Writer w = ResultLog.append(f)) {
            w.write(rec("q3", "c", "c"));
        }
        assertEquals(3, ResultLog.read(f).size());
        assertEquals(Set.of(), ResultLog.done(tmp.resolve("none.jsonl")), "no file yet: nothing done");
    }

    @Test
    void aLineTornByAKillIsIgnoredAndRepaired() throws IOException {
        Path f = tmp.resolve("results.jsonl");
        try (ResultLog.Writer w = ResultLog.append(f)) {
            w.write(rec("q1", "a", "a"));
            w.write(rec("q2", "b", "b"));
        }
        // a third line cut in the middle of a multi-byte character, as a kill mid-write may leave it
        byte[] third = (rec("q3", "\u5317\u4eac", "\u5317\u4eac").toJsonLine() + "\n").getBytes(StandardCharsets.UTF_8);
        int cut = new String(third, StandardCharsets.UTF_8).indexOf('\u5317') + 1; // chars before it are ASCII
        Files.write(f, Arrays.copyOf(third, cut + 1), StandardOpenOption.APPEND);

        assertEquals(2, ResultLog.read(f).size());
        assertEquals(Set.of(new ResultLog.Key("sac", "5x", "q1"), new ResultLog.Key("sac", "5x", "q2")),
                ResultLog.done(f));

        // resuming cuts the torn line off before appending, so the new record gets a line of its own
        try (ResultLog.Writer w = ResultLog.append(f)) {
            w.write(rec("q3", "\u5317\u4eac", "\u5317\u4eac"));
        }
        List<ResultLog.Record> after = ResultLog.read(f);
        assertEquals(List.of("q1", "q2", "q3"), after.stream().map(ResultLog.Record::questionId).toList());
        assertEquals(3, Files.readAllLines(f).size());
    }

    @Test
    void aCompleteLastLineWithoutItsNewlineIsKept() throws IOException {
        Path f = tmp.resolve("results.jsonl");
        Files.writeString(f, rec("q1", "a", "a").toJsonLine() + "\n" + rec("q2", "b", "b").toJsonLine());
        assertEquals(2, ResultLog.read(f).size());
        try (ResultLog.Writer w = ResultLog.append(f)) {
            w.write(rec("q3", "c", "c"));
        }
        assertEquals(List.of("q1", "q2", "q3"), ResultLog.read(f).stream().map(ResultLog.Record::questionId).toList());
    }

    @Test
    void aBadLineInsideTheFileIsAnError() throws IOException {
        Path f = tmp.resolve("results.jsonl");
        Files.writeString(f, rec("q1", "a", "a").toJsonLine() + "\n{\"method\": \"sac\"\n" + rec("q3", "c", "c").toJsonLine() + "\n");
        SacException e = assertThrows(SacException.class, () -> ResultLog.read(f));
        assertTrue(e.getMessage().startsWith(f + ": line 2: invalid JSON at offset "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        // a complete final line (it has its newline) that is not a record is damage, not a torn write
        Path g = tmp.resolve("g.jsonl");
        Files.writeString(g, rec("q1", "a", "a").toJsonLine() + "\n{\"method\": \"sac\"}\n");
        SacException m = assertThrows(SacException.class, () -> ResultLog.read(g));
        assertEquals(g + ": line 2: \"ratio\" must be a string", m.getMessage());
    }

    @Test
    void reportFromTheLogFile() throws IOException {
        Path f = tmp.resolve("results.jsonl");
        try (ResultLog.Writer w = ResultLog.append(f)) {
            w.write(rec("q1", "Paris", "Paris"));
            w.write(rec("q2", "London", "Paris"));
        }
        List<Report.Row> rows = Report.rows(ResultLog.read(f));
        assertEquals(1, rows.size());
        assertEquals(50.0, rows.get(0).summary().macro().em(), 0);
    }
}
