package io.sac4j.decode;

import io.sac4j.forward.KvCache;
import io.sac4j.forward.Llama;
import io.sac4j.forward.Logits;
import io.sac4j.forward.Mask;
import io.sac4j.load.ModelConfig;

/**
 * Plain left-to-right generation: one prefill call over the prompt, then one call per new token, until an EOS
 * token or {@code maxNewTokens}. Each call makes its own KV cache, so one {@link Llama} can serve many threads.
 */
public final class Generator {

    /** What generation produced, with the time spent in each phase. */
    public record Result(int[] promptIds, int[] generatedIds, boolean stoppedAtEos, long prefillNanos, long decodeNanos) {
        public double prefillTokensPerSecond() {
            return promptIds.length / Math.max(prefillNanos * 1e-9, 1e-9);
        }

        /** Decode speed over the tokens after the first (whose logits came from the prefill). */
        public double decodeTokensPerSecond() {
            int decoded = Math.max(generatedIds.length - 1, 0);
            return decoded / Math.max(decodeNanos * 1e-9, 1e-9);
        }
    }

    /** Receives each token as soon as it is chosen (e.g. to stream its text). */
    @FunctionalInterface
    public interface Listener {
        void onToken(int token);
    }

    private Generator() {
    }

    /**
     * Generates after {@code promptIds} (already holding BOS if the model wants one), with positions 0, 1, 2, ...
     * The EOS token that stops generation is not part of the result.
     */
    public static Result generate(Llama llama, int[] promptIds, int maxNewTokens, Sampler sampler, Listener listener) {
        if (promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty: give at least one token (e.g. BOS)");
        if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
        ModelConfig c = llama.config();
        KvCache cache = llama.newCache(promptIds.length + maxNewTokens);
        int[] positions = new int[promptIds.length];
        for (int i = 0; i < positions.length; i++) positions[i] = i;

        long t0 = System.nanoTime();
        float[] logits = llama.forward(promptIds, positions, cache, Mask.causal(), Logits.LAST);
        long prefill = System.nanoTime() - t0;

        int[] out = new int[maxNewTokens];
        int n = 0;
        boolean eos = false;
        long t1 = System.nanoTime();
        while (n < maxNewTokens) {
            int next = sampler.sample(logits);
            if (c.isEos(next)) {
                eos = true;
                break;
            }
            out[n++] = next;
            if (listener != null) listener.onToken(next);
            if (n == maxNewTokens) break;
            int pos = promptIds.length + n - 1;
            logits = llama.forward(new int[]{next}, new int[]{pos}, cache, Mask.causal(), Logits.LAST);
        }
        long decode = System.nanoTime() - t1;
        return new Result(promptIds, java.util.Arrays.copyOf(out, n), eos, prefill, decode);
    }
}
