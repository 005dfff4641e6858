package io.sac4j.eval;

import java.util.List;
import java.util.Objects;

/**
 * One context and the questions asked about it: the unit that is compressed once and then queried.
 * {@code contextId} is unique within its file: "title/paragraph-index" for SQuAD JSON, the line's "id" field or
 * "line-N" for MRQA JSON lines.
 */
public record Example(String contextId, String context, List<Question> questions) {
    public Example {
        Objects.requireNonNull(contextId, "contextId");
        Objects.requireNonNull(context, "context");
        questions = List.copyOf(questions);
    }
}
