package io.radixlm.model;

/**
 * Rotary position embedding settings. {@code type} is "default" or "llama3"; the llama3 fields are
 * used only for that type (HF's rope_scaling / rope_parameters with rope_type "llama3").
 */
public record RopeConfig(String type, double theta, double factor, double lowFreqFactor,
                         double highFreqFactor, int originalMaxPositionEmbeddings) {
    public RopeConfig {
        if (!type.equals("default") && !type.equals("llama3")) {
            throw new ModelFormatException("unsupported rope type '" + type + "' (supported: default, llama3)");
        }
        if (!(theta > 0)) throw new ModelFormatException("rope theta must be positive, got " + theta);
    }

    public static RopeConfig defaultRope(double theta) {
        return new RopeConfig("default", theta, 1, 1, 1, 0);
    }

    /**
     * Inverse frequencies for one head (headDim / 2 of them): theta^(-2i/headDim), adjusted by llama3
     * scaling where set. Backends compute angles as position * invFreq[i] and rotate the pair
     * (i, i + headDim/2) — HF's rotate-half layout.
     */
    public double[] inverseFrequencies(int headDim) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        if (type.equals("llama3")) {
            double lowFreqWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
            double highFreqWavelen = originalMaxPositionEmbeddings / highFreqFactor;
            for (int i = 0; i < inv.length; i++) {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowFreqWavelen) {
                    inv[i] = inv[i] / factor;
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor)
                            / (highFreqFactor - lowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                }
            }
        }
        return inv;
    }
}
