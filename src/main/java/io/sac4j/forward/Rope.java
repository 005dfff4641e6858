package io.sac4j.forward;

import io.sac4j.load.ModelConfig;

/**
 * Rotary position embedding. Frequencies are computed in float arithmetic the way HF transformers and llama2.c do
 * (inv_freq = 1 / theta^(2i/d) in f32, angle = f32(position * inv_freq)), so long positions round alike and logits
 * match the references to 1e-4.
 */
public final class Rope {
    private final ModelConfig.RopeStyle style;
    private final int headDim;
    private final float[] invFreq;

    public Rope(ModelConfig c) {
        this.style = c.ropeStyle();
        this.headDim = c.headDim();
        int half = headDim / 2;
        invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) headDim;
            invFreq[i] = 1.0f / (float) Math.pow(c.ropeTheta(), exponent);
        }
        if (c.ropeScaling() != null) llama3Scaling(c.ropeScaling());
        // GGUF stores Llama 3.x scaling as per-frequency divisors instead (ggml's rope freq_factors)
        if (c.ropeFreqFactors() != null)
            for (int i = 0; i < half; i++) invFreq[i] /= c.ropeFreqFactors()[i];
    }

    /** HF _compute_llama3_parameters: long wavelengths divided by factor, the band between smoothly interpolated. */
    private void llama3Scaling(ModelConfig.RopeScaling s) {
        float lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
        float highWavelen = s.originalMaxPositions() / s.highFreqFactor();
        for (int i = 0; i < invFreq.length; i++) {
            float f = invFreq[i];
            float wavelen = (float) (2 * Math.PI) / f;
            float scaled = wavelen > lowWavelen ? f / s.factor() : f;
            if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                float smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                scaled = (1 - smooth) * scaled / s.factor() + smooth * scaled;
            }
            invFreq[i] = scaled;
        }
    }

    public ModelConfig.RopeStyle style() {
        return style;
    }

    public int headDim() {
        return headDim;
    }

    /** cos/sin of every (row, frequency) for one forward call, shared by all layers and heads. */
    public Table table(int[] positions) {
        int half = headDim / 2;
        float[] cos = new float[positions.length * half], sin = new float[positions.length * half];
        for (int t = 0; t < positions.length; t++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) positions[t] * invFreq[i];
                cos[t * half + i] = (float) Math.cos(angle);
                sin[t * half + i] = (float) Math.sin(angle);
            }
        }
        return new Table(style, headDim, positions.length, cos, sin);
    }

    /** Angles for {@code rows} rows: cos/sin are [rows][headDim/2]. */
    public record Table(ModelConfig.RopeStyle style, int headDim, int rows, float[] cos, float[] sin) {
    }
}
