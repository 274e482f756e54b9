package io.radixlm.backend;

/**
 * A linear layer held in float32: y = x · weightᵀ + bias.
 *
 * @param weight (outDim, inDim)
 * @param bias   (outDim) or null when the layer has none
 */
record Linear(float[] weight, float[] bias, int inDim, int outDim) {

    Linear {
        if (weight.length != (long) inDim * outDim) {
            throw new IllegalArgumentException("weight holds " + weight.length + " floats, not " + outDim + "×" + inDim);
        }
        if (bias != null && bias.length != outDim) {
            throw new IllegalArgumentException("bias holds " + bias.length + " floats, not " + outDim);
        }
    }

    /**
     * @param x (numTokens, inDim)
     * @return (numTokens, outDim)
     */
    float[] apply(float[] x, int numTokens) {
        float[] y = new float[numTokens * outDim];
        CpuKernels.matmul(y, x, weight, bias, numTokens, inDim, outDim);
        return y;
    }
}
