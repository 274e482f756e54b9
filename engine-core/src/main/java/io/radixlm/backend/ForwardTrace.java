package io.radixlm.backend;

/**
 * Receives named intermediate tensors of a forward pass, so that two backends can be compared op by
 * op (the GPU-vs-CPU {@code verify} command). Passing no trace (null) costs nothing.
 *
 * <p>Names and rows, in the order a forward emits them:
 * <ul>
 *   <li>"embedding": (numTokens, hidden), every new token of the batch;</li>
 *   <li>"layer.N.attention": (numTokens, hidden), the output of layer N's o_proj (before the residual add);</li>
 *   <li>"layer.N.mlp": (numTokens, hidden), the output of layer N's down_proj (before the residual add);</li>
 *   <li>"final_norm": (logitRows.length, hidden), the final RMSNorm of the logit rows only;</li>
 *   <li>"logits": (logitRows.length, vocab).</li>
 * </ul>
 */
@FunctionalInterface
public interface ForwardTrace {

    /**
     * One tensor, row-major (numRows, numCols). The array is the receiver's to keep: the backend does
     * not write to it afterwards.
     */
    void tensor(String name, float[] values, int numRows, int numCols);
}
