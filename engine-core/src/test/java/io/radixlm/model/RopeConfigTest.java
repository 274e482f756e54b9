package io.radixlm.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** inverseFrequencies against transformers' _compute_llama3_parameters, re-derived here in its vectorised form. */
class RopeConfigTest {

    /** transformers' formula: three torch.where steps over the whole vector. */
    private static double[] referenceLlama3(double base, int dim, double factor, double low, double high, int oldContext) {
        int n = dim / 2;
        double[] invFreq = new double[n];
        double[] wavelen = new double[n];
        for (int k = 0; k < n; k++) {
            invFreq[k] = 1.0 / Math.pow(base, (double) (2 * k) / dim); // arange(0, dim, 2) / dim
            wavelen[k] = 2 * Math.PI / invFreq[k];
        }
        double lowFreqWavelen = oldContext / low;
        double highFreqWavelen = oldContext / high;
        double[] llama = new double[n];
        for (int k = 0; k < n; k++) llama[k] = wavelen[k] > lowFreqWavelen ? invFreq[k] / factor : invFreq[k];
        for (int k = 0; k < n; k++) {
            double smooth = (oldContext / wavelen[k] - low) / (high - low);
            double smoothed = (1 - smooth) * llama[k] / factor + smooth * llama[k];
            boolean medium = !(wavelen[k] < highFreqWavelen) && !(wavelen[k] > lowFreqWavelen);
            if (medium) llama[k] = smoothed;
        }
        return llama;
    }

    @Test
    void llama3ScalingMatchesTransformers() {
        // Llama 3.2 1B: head_dim 64, theta 500000, factor 32, low 1, high 4, original context 8192.
        RopeConfig rope = new RopeConfig("llama3", 500000.0, 32.0, 1.0, 4.0, 8192);
        double[] actual = rope.inverseFrequencies(64);
        double[] expected = referenceLlama3(500000.0, 64, 32.0, 1.0, 4.0, 8192);
        assertEquals(32, actual.length);
        int numHigh = 0, numLow = 0, numMedium = 0;
        for (int k = 0; k < 32; k++) {
            assertEquals(expected[k], actual[k], 1e-12 * expected[k], "frequency " + k);
            double unscaled = Math.pow(500000.0, -2.0 * k / 64);
            if (actual[k] == unscaled) numHigh++;
            else if (Math.abs(actual[k] - unscaled / 32) < 1e-15 * unscaled) numLow++;
            else numMedium++;
        }
        // The configuration exercises all three regions of the formula.
        assertTrue(numHigh > 0 && numLow > 0 && numMedium > 0, numHigh + " " + numLow + " " + numMedium);
        assertEquals(1.0, actual[0]);
    }

    @Test
    void llama3WithOtherParameters() {
        RopeConfig rope = new RopeConfig("llama3", 10000.0, 8.0, 1.0, 4.0, 256);
        double[] actual = rope.inverseFrequencies(32);
        double[] expected = referenceLlama3(10000.0, 32, 8.0, 1.0, 4.0, 256);
        for (int k = 0; k < expected.length; k++) assertEquals(expected[k], actual[k], 1e-12 * expected[k]);
    }

    @Test
    void defaultRopeIsThetaPower() {
        double[] inv = RopeConfig.defaultRope(10000.0).inverseFrequencies(8);
        assertEquals(4, inv.length);
        assertEquals(1.0, inv[0]);
        assertEquals(0.1, inv[1], 1e-15);   // 10000^(-2/8)
        assertEquals(0.01, inv[2], 1e-16);  // 10000^(-4/8)
        assertEquals(0.001, inv[3], 1e-17); // 10000^(-6/8)
    }
}
