package io.radixlm.convert;

/**
 * llama2.c (like Meta's original Llama code) rotates interleaved pairs (2i, 2i+1) of each head;
 * transformers rotates halves (i, i + head/2). Permuting the rows of wq and wk per head turns one
 * into the other without touching the attention scores, because q·k is a sum over the same pairs.
 */
final class RopeLayout {
    private RopeLayout() {}

    /**
     * Row permutation of transformers' convert_llama_weights_to_hf.py {@code permute}: within each
     * head, new row {@code half * head/2 + i} is old row {@code 2i + half}.
     *
     * @param w row-major (numHeads * headDim, cols)
     * @return a new array of the same shape
     */
    static float[] interleavedToRotateHalf(float[] w, int numHeads, int headDim, int cols) {
        if ((long) numHeads * headDim * cols != w.length) {
            throw new IllegalArgumentException("weight has " + w.length + " values, expected "
                    + numHeads + " x " + headDim + " x " + cols);
        }
        int halfDim = headDim / 2;
        float[] out = new float[w.length];
        for (int head = 0; head < numHeads; head++) {
            int base = head * headDim;
            for (int half = 0; half < 2; half++) {
                for (int i = 0; i < halfDim; i++) {
                    int src = base + 2 * i + half;
                    int dst = base + half * halfDim + i;
                    System.arraycopy(w, src * cols, out, dst * cols, cols);
                }
            }
        }
        return out;
    }
}
