package io.sac4j;

import io.sac4j.compress.Answer;
import io.sac4j.compress.AnswerOptions;
import io.sac4j.compress.CompressedContext;
import io.sac4j.compress.Sac;
import io.sac4j.compress.SacFile;
import io.sac4j.forward.Backend;
import io.sac4j.forward.Backends;
import io.sac4j.load.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The README's library example, compiled and run; and a check that the README still shows exactly this code. */
class ReadmeExampleTest {

    @Test
    void theExampleRuns(@TempDir Path tmp) throws Exception {
        String dir = tmp.toString();
        String contextText = "Lumen counted the stars every night and kept one anchor in five. ".repeat(30);
        List<String> questions = List.of("What did Lumen count?", "How many anchors?");
        List<String> printed = new ArrayList<>();
        java.io.PrintStream old = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true));
        try {
            // example:begin
            try (Model model = Model.bundled();                               // or Model.open(Path.of("Llama-3.2-1B"), null)
                 Backend backend = Backends.create("auto", 2);                // CUDA when usable, else the CPU
                 Sac sac = Sac.open(model, null, backend)) {                  // or SacAdapter.load(adapterFile, model.config())
                CompressedContext ctx = sac.compress(contextText, 5);         // once per context
                SacFile.save(Path.of(dir, "context.sac"), ctx, model.config());

                CompressedContext loaded = SacFile.load(Path.of(dir, "context.sac"), backend, model.config(),
                        sac.modelFingerprint(), sac.adapterFingerprint());
                for (String q : questions) {                                  // many questions, never recomputed
                    Answer a = sac.answer(loaded, q, AnswerOptions.DEFAULT.withMaxNewTokens(32));
                    System.out.println(q + " -> " + a.text() + " (" + a.ids().length + " tokens)");
                }
                List<Answer> all = sac.answerAll(loaded, questions, AnswerOptions.DEFAULT.withMaxNewTokens(32)); // same, together
                CompressedContext full = sac.fullContext(contextText);       // baselines, same decoder
                CompressedContext first = sac.truncated(contextText, 5, Sac.Keep.FIRST);
            }
            // example:end
        } finally {
            System.setOut(old);
        }
        printed.addAll(buf.toString().lines().toList());
        for (String q : questions)
            assertEquals(1, printed.stream().filter(l -> l.startsWith(q + " -> ")).count(), buf.toString());
        assertTrue(Files.size(tmp.resolve("context.sac")) > 0);
    }

    @Test
    void readmeShowsThisCode() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        String test = Files.readString(Path.of("src/test/java/io/sac4j/ReadmeExampleTest.java"));
        String fromReadme = between(readme, "```java\n", "```\n<!-- example:end -->", readme.indexOf("<!-- example:begin"));
        String fromTest = between(test, "// example:begin\n", "            // example:end", 0);
        assertEquals(dedent(fromTest), fromReadme, "README.md's library example differs from ReadmeExampleTest");
    }

    private static String between(String s, String from, String to, int after) {
        int a = s.indexOf(from, after);
        int b = s.indexOf(to, a);
        assertTrue(a >= 0 && b > a, "markers not found: " + from);
        return s.substring(a + from.length(), b);
    }

    private static String dedent(String block) {
        StringBuilder out = new StringBuilder();
        for (String line : block.split("\n", -1)) out.append(line.length() >= 12 ? line.substring(12) : line.strip()).append('\n');
        return out.substring(0, out.length() - 1);
    }
}
