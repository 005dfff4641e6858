package io.sac4j.fuzz;

import io.sac4j.fuzz.Mutator.Mutant;
import io.sac4j.fuzz.Targets.Env;
import io.sac4j.fuzz.Targets.Seed;
import io.sac4j.fuzz.Targets.Target;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every parser of untrusted files, fuzzed: {@value Fuzz#CASES} cases per parser and run (x50 with
 * {@code -Dsac.long=true}; {@code -Dsac.fuzz.seed=N} for another sequence), starting with a truncation at every
 * section boundary of every seed, then random mutations (see {@link Mutator} and {@link JsonMutator}). Each case must
 * load or fail with a one-line SacException naming the file, within {@value Fuzz#CASE_TIMEOUT_S} s and a bounded
 * allocation ({@link Fuzz.Runner}).
 */
class ParserFuzzTest {
    static Env env;

    @TempDir
    static Path work;

    @BeforeAll
    static void open() {
        env = new Env();
    }

    @AfterAll
    static void close() {
        env.close();
    }

    @Test
    void llama2cBin() {
        fuzz(Targets.llama2cBin(env, work));
    }

    @Test
    void llama2cTokenizer() {
        fuzz(Targets.llama2cTokenizer(env, work));
    }

    @Test
    void safetensors() {
        fuzz(Targets.safetensors(env, work));
    }

    @Test
    void safetensorsIndex() {
        fuzz(Targets.safetensorsIndex(env, work));
    }

    @Test
    void configJson() {
        fuzz(Targets.configJson(env, work));
    }

    @Test
    void tokenizerJson() {
        fuzz(Targets.tokenizerJson(env, work));
    }

    @Test
    void gguf() {
        fuzz(Targets.gguf(env, work));
    }

    @Test
    void adapterPt() {
        fuzz(Targets.adapterPt(env, work));
    }

    @Test
    void adapterSafetensors() {
        fuzz(Targets.adapterSafetensors(env, work));
    }

    @Test
    void sacFile() {
        fuzz(Targets.sacFile(env, work));
    }

    /** A second mutation on top of the first (the seed's layout still roughly applies). */
    static Mutant again(Target t, Seed s, Mutant first, SplittableRandom rnd) {
        try {
            Mutant m = t.mutate(new Seed(s.name(), first.bytes(), s.layout(), s.file()), rnd);
            return new Mutant(m.bytes(), first.what() + "; then " + m.what());
        } catch (RuntimeException e) { // the first mutation broke what the second one parses (JSON, a zip)
            return first;
        }
    }

    static void fuzz(Target t) {
        long t0 = System.nanoTime();
        int total = Fuzz.CASES * Fuzz.SCALE;
        SplittableRandom rnd = Fuzz.random(t.name);
        try (Fuzz.Runner runner = new Fuzz.Runner(t.name)) {
            // each seed unmutated must load: otherwise the mutations explore nothing
            for (Seed s : t.seeds) {
                Fuzz.Outcome o = runner.run(s.name() + " unmutated", s.name() + "__seed", s.bytes(), t.work, () -> t.run(s, s.bytes()));
                assertTrue(o.ok(), t.name + " seed " + s.name() + " does not load: " + o);
            }
            int done = 0;
            for (Seed s : t.seeds) {
                for (Mutant m : t.fixed(s)) {
                    done++;
                    runner.run(s.name() + " " + m.what(), s.name() + "__fixed" + done, m.bytes(), t.work, () -> t.run(s, m.bytes()));
                }
            }
            for (int i = 0; done < total; i++, done++) {
                Seed s = t.seeds.get(i % t.seeds.size());
                Mutant m = t.mutate(s, rnd);
                if (rnd.nextInt(4) == 0) m = again(t, s, m, rnd);
                byte[] input = m.bytes();
                runner.run(s.name() + " case " + i + ": " + m.what(), s.name() + "__case" + i, input, t.work,
                        () -> t.run(s, input));
            }
            String summary = runner.finish();
            System.out.printf("fuzz %s in %.1f s%n", summary, (System.nanoTime() - t0) * 1e-9);
            // a harness whose mutations all load, or all fail, is not exploring
            assertTrue(runner.refused > total / 10, t.name + ": too few refusals: " + summary);
            assertTrue(runner.accepted + runner.refused >= total, summary);
        }
    }
}
