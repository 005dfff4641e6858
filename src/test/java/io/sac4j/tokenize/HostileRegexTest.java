package io.sac4j.tokenize;

import io.sac4j.SacException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tokenizer.json carries its own pre-tokenizer regex, and java.util.regex backtracks and recurses: a hostile (or
 * just unlucky) pattern would hang encode() or throw StackOverflowError on long text. Matching runs on a step budget
 * and the stack overflow is caught, so both end in a one-line SacException naming the tokenizer file, quickly; the
 * real tokenizers stay well inside the budget.
 */
class HostileRegexTest {
    @TempDir
    Path tmp;

    /** The llama3 fixture with its Split regex replaced by {@code regex}. */
    private Path tokenizerWith(String regex) throws IOException {
        Path seed = TokenizerFixtures.dir().resolve("llama3").resolve("tokenizer.json");
        String text = Files.readString(seed);
        String original = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
        assertTrue(text.contains(original), "the fixture's regex moved");
        Path out = tmp.resolve(Math.abs(regex.hashCode()) + ".json");
        Files.writeString(out, text.replace(original, regex.replace("\\", "\\\\")));
        return out;
    }

    private void refusedQuickly(String regex, String text, String why) throws IOException {
        Path file = tokenizerWith(regex);
        BpeTokenizer t = BpeTokenizer.fromJson(file);
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            SacException e = assertThrows(SacException.class, () -> t.encode(text));
            assertTrue(e.getMessage().startsWith(file + ": the pre-tokenizer regex "), e.getMessage());
            assertTrue(e.getMessage().contains(why), e.getMessage());
            assertEquals(-1, e.getMessage().indexOf('\n'));
        });
    }

    @Test
    void catastrophicBacktrackingIsCutOff() throws IOException {
        String as = "a".repeat(200) + "!";
        // eleven a's where the pattern wants twelve: every way of choosing them is tried
        refusedQuickly("(.*a){12}", ("x".repeat(18) + "a").repeat(11), "backtracks too much on a text of 209 characters");
        refusedQuickly("((a+)+)+b", as, "catastrophic backtracking");
        refusedQuickly("(.*){1,32000}[bc]", as, "catastrophic backtracking");
    }

    @Test
    void recursionDeeperThanTheStackIsCaught() throws IOException {
        // one stack frame per character: a few hundred thousand characters overflow any default stack
        refusedQuickly("(?:.|\\n)+", "word ".repeat(400_000), "recurses too deeply on a text of 2000000 characters");
    }

    @Test
    void realPatternsStayInsideTheBudget() {
        // long runs of whitespace and of punctuation are where the real patterns backtrack most
        String text = (" ".repeat(5000) + "x" + "!?".repeat(5000) + "\n".repeat(3000) + "word ").repeat(4);
        for (String name : TokenizerFixtures.BPE_NAMES) {
            BpeTokenizer t = BpeTokenizer.fromJson(TokenizerFixtures.dir().resolve(name).resolve("tokenizer.json"));
            assertEquals(text, t.decode(t.encode(text)), name);
        }
    }
}
