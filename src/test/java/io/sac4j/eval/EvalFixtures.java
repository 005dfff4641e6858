package io.sac4j.eval;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the committed eval fixtures and of the shared SQuAD file. */
final class EvalFixtures {
    private EvalFixtures() {
    }

    static Path fixture(String name) {
        URL u = EvalFixtures.class.getResource("/fixtures/eval/" + name);
        if (u == null) throw new IllegalStateException("missing test fixture fixtures/eval/" + name);
        try {
            return Path.of(u.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The real SQuAD v1.1 dev file (not committed: 4.8 MB); tests that need it are skipped where it is absent. */
    static Path squadDev() {
        return Path.of(System.getProperty("sac.squad", "/work/shared/data/squad-dev-v1.1.json"));
    }

    static boolean haveSquadDev() {
        return Files.isRegularFile(squadDev());
    }
}
