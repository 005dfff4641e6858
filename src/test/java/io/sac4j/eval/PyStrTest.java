package io.sac4j.eval;

import io.sac4j.load.Json;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** PyStr against CPython's own answers for every code point (fixture from scripts/eval/reference_metrics.py). */
class PyStrTest {
    private static final int N = 0x110000;
    /** Re-categorised after Unicode 14 (Python 3.11's tables) by Unicode 16 (JDK 25's): Ahom U+1171E Mn -> Mc. */
    private static final Set<Integer> NEWER_UNICODE = Set.of(0x1171E);

    @Test
    void everyCodePointBehavesAsInPython() throws IOException {
        Map<String, Object> t = Json.parseObject(Files.readString(EvalFixtures.fixture("python_unicode.json")),
                "python_unicode.json");
        assertEquals(Metrics.PUNCTUATION, t.get("punctuation"));
        boolean[] assigned = ranges(t.get("assigned"));
        boolean[] word = ranges(t.get("word"));
        boolean[] ignorable = ranges(t.get("case_ignorable"));
        boolean[] casedOnly = ranges(t.get("cased_not_ignorable"));
        boolean[] space = new boolean[N];
        for (Object o : (List<?>) t.get("space")) space[((Number) o).intValue()] = true;
        String[] lower = new String[N];
        for (Object o : (List<?>) t.get("lower")) {
            List<?> e = (List<?>) o;
            StringBuilder b = new StringBuilder();
            for (int i = 1; i < e.size(); i++) b.appendCodePoint(((Number) e.get(i)).intValue());
            lower[((Number) e.get(0)).intValue()] = b.toString();
        }

        List<String> bad = new ArrayList<>();
        int checked = 0;
        for (int cp = 0; cp < N && bad.size() < 20; cp++) {
            if (PyStr.isSpace(cp) != space[cp]) bad.add(hex(cp) + " isspace python=" + space[cp]);
            if (!assigned[cp] || NEWER_UNICODE.contains(cp)) continue; // unassigned in Unicode 14: JDK decides
            checked++;
            if (PyStr.isWord(cp) != word[cp]) bad.add(hex(cp) + " \\w python=" + word[cp]);
            boolean ign = PyStr.isCaseIgnorable(cp);
            if (ign != ignorable[cp]) bad.add(hex(cp) + " case-ignorable python=" + ignorable[cp]);
            if ((PyStr.isCased(cp) && !ign) != casedOnly[cp]) bad.add(hex(cp) + " cased python=" + casedOnly[cp]);
            String s = Character.toString(cp);
            String want = lower[cp] != null ? lower[cp] : s;
            if (!PyStr.lower(s).equals(want)) bad.add(hex(cp) + " lower");
        }
        assertEquals(List.of(), bad);
        assertTrue(checked > 280_000, "Unicode 14 assigns 284,278 code points (incl. surrogates), checked " + checked);
    }

    @Test
    void splitIsPythonsSplit() {
        assertEquals(List.of("a", "b"), PyStr.split(" a\u00a0\u2007b\u3000"));
        assertEquals(List.of("a\u200bb"), PyStr.split("a\u200bb"), "zero-width space is not whitespace");
        assertEquals(List.of("a", "b"), PyStr.split("a\u001cb"), "information separators are whitespace in Python");
        assertEquals(List.of(), PyStr.split(" \t\n"));
    }

    private static boolean[] ranges(Object o) {
        boolean[] r = new boolean[N];
        for (Object e : (List<?>) o) {
            List<?> p = (List<?>) e;
            for (int cp = ((Number) p.get(0)).intValue(); cp <= ((Number) p.get(1)).intValue(); cp++) r[cp] = true;
        }
        return r;
    }

    private static String hex(int cp) {
        return String.format("U+%04X", cp);
    }
}
