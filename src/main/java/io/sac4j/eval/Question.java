package io.sac4j.eval;

import java.util.List;
import java.util.Objects;

/**
 * One question about a context. {@code answers} are the gold answer texts in file order (never empty); the paper's
 * metrics use {@code answers.get(0)}, the official SQuAD metrics all of them.
 */
public record Question(String id, String question, List<String> answers) {
    public Question {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(question, "question");
        answers = List.copyOf(answers);
        if (answers.isEmpty()) throw new IllegalArgumentException("question " + id + " has no answers");
    }
}
