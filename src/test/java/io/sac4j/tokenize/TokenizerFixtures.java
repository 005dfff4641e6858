package io.sac4j.tokenize;

import io.sac4j.load.Json;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed reference data: lines.txt and, per tokenizer, expected.jsonl written by
 * scripts/tokenizer/reference_ids.mjs (Hugging Face tokenizers.js) or scripts/tokenizer/reference_llama2c.py (a
 * port of run.c).
 */
final class TokenizerFixtures {
    static final List<String> BPE_NAMES = List.of("llama3", "qwen2", "gpt2", "smollm2");

    /** One test case: lines [from, to) of lines.txt joined with sep, and what the reference made of it. */
    record Case(int index, String text, int[] ids, String decoded) {
        String label() {
            String t = text.length() > 60 ? text.substring(0, 60) + "..." : text;
            return "case " + index + " \"" + t.replace("\n", "\\n")
                    .replace("\r", "\\r").replace("\t", "\\t") + "\"";
        }
    }

    private TokenizerFixtures() {}

    static Path dir() {
        try {
            return Path.of(TokenizerFixtures.class.getResource("/fixtures/tokenizer/lines.txt").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static List<String> lines() {
        try {
            String all = Files.readString(dir().resolve("lines.txt"), StandardCharsets.UTF_8);
            List<String> out = new ArrayList<>(Arrays.asList(all.split("\n", -1)));
            if (!out.isEmpty() && out.getLast().isEmpty()) out.removeLast();
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Case> cases(String name) {
        List<String> lines = lines();
        Path file = dir().resolve(name).resolve("expected.jsonl");
        List<Case> out = new ArrayList<>();
        try {
            for (String row : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (row.isBlank()) continue;
                Map<String, Object> r = Json.parseObject(row, file.toString());
                int from = (int) Json.integer(r, "from", file.toString());
                int to = (int) Json.integer(r, "to", file.toString());
                String sep = (String) r.get("sep");
                String text = String.join(sep, lines.subList(from, to));
                List<?> idList = (List<?>) r.get("ids");
                int[] ids = idList.stream().mapToInt(o -> ((Long) o).intValue()).toArray();
                String decoded = Boolean.TRUE.equals(r.get("roundtrip")) ? text : (String) r.get("decoded");
                out.add(new Case((int) Json.integer(r, "case", file.toString()), text, ids, decoded));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertTrue(out.size() > 400, name + ": expected.jsonl has only " + out.size() + " cases");
        return out;
    }

    static Path bpeJson(String name) {
        return dir().resolve(name).resolve("tokenizer.json");
    }

    static byte[] tok512() {
        try (InputStream in = TokenizerFixtures.class.getResourceAsStream("/io/sac4j/models/tok512.bin")) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
