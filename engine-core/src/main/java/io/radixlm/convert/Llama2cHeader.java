package io.radixlm.convert;

import io.radixlm.model.ModelFormatException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The 7-int32 header of a llama2.c checkpoint (run.c's Config). A negative vocab_size in the file
 * means the classifier is stored separately (wcls); a positive one means it is the embedding table.
 */
public record Llama2cHeader(int dim, int hiddenDim, int numLayers, int numHeads, int numKvHeads,
                            int vocabSize, int seqLen, boolean sharedClassifier) {
    public static final int BYTES = 7 * Integer.BYTES;

    private static final ValueLayout.OfInt INT_LE =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Llama2cHeader {
        if (dim <= 0 || hiddenDim <= 0 || numLayers <= 0 || numHeads <= 0 || numKvHeads <= 0
                || vocabSize <= 0 || seqLen <= 0) {
            throw new ModelFormatException("llama2.c header has a non-positive size: dim " + dim + ", hidden "
                    + hiddenDim + ", layers " + numLayers + ", heads " + numHeads + ", kv heads " + numKvHeads
                    + ", vocab " + vocabSize + ", seq_len " + seqLen);
        }
        if (dim % numHeads != 0 || numHeads % numKvHeads != 0) {
            throw new ModelFormatException("llama2.c header: dim " + dim + " must divide into " + numHeads
                    + " heads, and the heads into " + numKvHeads + " kv heads");
        }
        if ((dim / numHeads) % 2 != 0) {
            throw new ModelFormatException("llama2.c header: head size " + dim / numHeads + " is odd, RoPE needs pairs");
        }
    }

    /** Reads the header at the start of a checkpoint (little endian, as llama2.c writes it). */
    public static Llama2cHeader read(MemorySegment file) {
        if (file.byteSize() < BYTES) {
            throw new ModelFormatException("llama2.c checkpoint is " + file.byteSize() + " bytes, shorter than its header");
        }
        int[] v = new int[7];
        for (int i = 0; i < 7; i++) v[i] = file.get(INT_LE, (long) i * Integer.BYTES);
        boolean shared = v[5] > 0;
        return new Llama2cHeader(v[0], v[1], v[2], v[3], v[4], Math.abs(v[5]), v[6], shared);
    }

    public int headDim() { return dim / numHeads; }

    public int kvDim() { return numKvHeads * headDim(); }

    /** Number of float32 values after the header, in run.c's memory_map_weights order. */
    public long numFloats() {
        long layers = numLayers;
        long perLayer = 2L * dim                        // rms_att_weight, rms_ffn_weight
                + (long) dim * dim + 2L * dim * kvDim()  // wq, wk, wv
                + (long) dim * dim                       // wo
                + 3L * dim * hiddenDim;                  // w1, w2, w3
        long freqCis = (long) seqLen * headDim();        // freq_cis_real + freq_cis_imag, each (seq_len, head/2)
        long classifier = sharedClassifier ? 0 : (long) vocabSize * dim;
        return (long) vocabSize * dim + layers * perLayer + dim + freqCis + classifier;
    }

    /** Bytes a checkpoint with this header must have. */
    public long fileBytes() { return BYTES + 4 * numFloats(); }
}
