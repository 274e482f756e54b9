package io.radixlm.cuda;

/**
 * The order of q and k features within a head on the GPU: RoPE's rotate-half pairs (i, i + headDim/2) side by
 * side, stored index 2i holding feature i and 2i + 1 feature i + headDim/2. The q/k projection rows (and their
 * bias) are uploaded in this order, so the fused decode GEMV reads the two weight rows of a pair as one run of
 * memory instead of two rows half a head apart (on the 8B shape its qkv GEMV took 15.2 instead of 16.2 µs a
 * layer). Everything after the rotation (q, the K cache) is in HF's order again: the rope kernels read in this
 * order and write in that one.
 */
final class RopePairOrder {
    private RopePairOrder() { }

    /** The HF feature index within a head that stored index s holds. */
    static int featureAt(int s, int headDim) {
        return s / 2 + (s % 2) * (headDim / 2);
    }

    /**
     * The rows of a (numHeads · headDim, rowLength) row-major matrix (or vector, rowLength 1) rearranged into pair
     * order head by head.
     */
    static float[] rows(float[] values, int numHeads, int headDim, int rowLength) {
        if (headDim % 2 != 0 || values.length != (long) numHeads * headDim * rowLength) {
            throw new IllegalArgumentException("expected " + numHeads + " heads of " + headDim + " rows of " + rowLength
                    + " values, got " + values.length + " values");
        }
        float[] out = new float[values.length];
        for (int h = 0; h < numHeads; h++) {
            for (int s = 0; s < headDim; s++) {
                int from = (h * headDim + featureAt(s, headDim)) * rowLength;
                System.arraycopy(values, from, out, (h * headDim + s) * rowLength, rowLength);
            }
        }
        return out;
    }
}
