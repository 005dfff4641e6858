package io.sac4j.decode;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: greedy (argmax, temperature 0) or temperature + top-p (nucleus) sampling from
 * a seeded generator, so a given seed always gives the same text. Not thread-safe (it owns its random state).
 */
public final class Sampler {
    private final float temperature, topP;
    private final SplittableRandom random;

    public Sampler(float temperature, float topP, long seed) {
        if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topP = topP;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() {
        return new Sampler(0, 1, 0);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    public int sample(float[] logits) {
        if (temperature == 0) return argmax(logits);
        int n = logits.length;
        // softmax at the given temperature (max subtracted for range)
        float max = logits[argmax(logits)];
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += p[i] = Math.exp((logits[i] - max) / temperature);
        for (int i = 0; i < n; i++) p[i] /= sum;
        double r = random.nextDouble();
        if (topP >= 1) return draw(p, r);
        // nucleus: the most likely tokens whose mass reaches top-p. Tokens below (1-topP)/(n-1) can never be in it
        // (the same cut llama2.c uses), which keeps the sort short on large vocabularies.
        double cutoff = (1 - topP) / (n - 1);
        Integer[] idx = new Integer[n];
        int m = 0;
        for (int i = 0; i < n; i++) if (p[i] >= cutoff) idx[m++] = i;
        Integer[] cand = Arrays.copyOf(idx, m);
        Arrays.sort(cand, (a, b) -> Double.compare(p[b], p[a]));
        double cum = 0;
        int last = m - 1;
        for (int i = 0; i < m; i++) {
            cum += p[cand[i]];
            if (cum > topP) {
                last = i;
                break;
            }
        }
        double target = r * cum, acc = 0;
        for (int i = 0; i <= last; i++) {
            acc += p[cand[i]];
            if (target < acc) return cand[i];
        }
        return cand[last];
    }

    private static int draw(double[] p, double r) {
        double acc = 0;
        for (int i = 0; i < p.length; i++) {
            acc += p[i];
            if (r < acc) return i;
        }
        return p.length - 1;
    }

    /** Index of the largest logit (the first one on ties, like torch.argmax). */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
