package io.radixlm.cuda.bench;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.TensorNames;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The roofline arithmetic against independent figures: the parameter counts the model cards publish
 * (Llama-3.2-1B 1.24B, Llama-3.1-8B 8.03B, Qwen3-0.6B 0.6B incl. 0.44B non-embedding), DESIGN.md's bytes
 * per decode step (2.47 GB for 1B, 15.0 GB for 8B), the sum of the tensor shapes TensorNames expects (the
 * same list the safetensors loader checks a real checkpoint against), and hand-counted FLOPs.
 */
class StepCostTest {
    @Test
    void parameterCountsMatchTheModelCards() {
        assertEquals(1.24e9, StepCost.totalParams(ModelShapes.llama32_1b()), 0.005e9);
        assertEquals(8.03e9, StepCost.totalParams(ModelShapes.llama31_8b()), 0.005e9);
        ModelConfig qwen = ModelShapes.qwen3_06b();
        assertEquals(0.6e9, StepCost.totalParams(qwen), 0.01e9);
        long embedding = (long) qwen.vocabSize() * qwen.hiddenSize();
        assertEquals(0.44e9, StepCost.totalParams(qwen) - embedding, 0.005e9);
    }

    @Test
    void totalParamsEqualTheSumOfTheExpectedTensorShapes() {
        for (ModelConfig c : ModelShapes.all().values()) {
            long sum = 0;
            for (TensorNames.Expected e : TensorNames.expectedShapes(c)) {
                long n = 1;
                for (long d : e.shape()) n *= d;
                sum += n;
            }
            assertEquals(sum, StepCost.totalParams(c), c.modelType() + " " + c.hiddenSize());
        }
    }

    @Test
    void bytesPerDecodeStepMatchDesignMd() {
        // DESIGN.md: Llama-3.2-1B shape ≈ 2.47 GB/step, Llama-3.1-8B ≈ 15.0 GB/step at batch 1 (short context)
        assertEquals(2.47e9, StepCost.decodeBytesPerStep(ModelShapes.llama32_1b(), 1, 1), 0.005e9);
        assertEquals(15.0e9, StepCost.decodeBytesPerStep(ModelShapes.llama31_8b(), 1, 1), 0.05e9);
    }

    @Test
    void decodeBytesAreWeightsPlusKv() {
        ModelConfig c = ModelShapes.llama32_1b();
        // KV per token: 2 (K, V) × 16 layers × 8 kv heads × 64 head_dim × 2 bytes = 32 KiB
        assertEquals(32768, c.kvBytesPerToken(2));
        long weights = 2L * (StepCost.totalParams(c) - (long) c.vocabSize() * c.hiddenSize()  // all but the embedding table...
                + (long) c.vocabSize() * c.hiddenSize())                                      // ...which is the tied LM head
                + 2L * 64 * c.hiddenSize();                                                    // 64 embedding rows looked up
        assertEquals(weights, StepCost.weightBytesPerStep(c, 64));
        assertEquals(weights + 64L * 8192 * 32768, StepCost.decodeBytesPerStep(c, 64, 8192));
        ModelConfig big = ModelShapes.llama31_8b(); // untied: the embedding table is not read, the LM head is
        assertEquals(2L * (StepCost.totalParams(big) - (long) big.vocabSize() * big.hiddenSize() + big.hiddenSize()),
                StepCost.weightBytesPerStep(big, 1));
    }

    @Test
    void prefillFlopsByHand() {
        ModelConfig c = ModelShapes.llama31_8b();
        int n = 8192;
        // per layer: q 4096², k and v 4096·1024, o 4096², gate/up/down 3·4096·14336 (+ norms 2·4096)
        double layer = 4096.0 * 4096 * 2 + 2 * 4096.0 * 1024 + 3 * 4096.0 * 14336 + 2 * 4096;
        double attention = 32 * 32 * 128 * 4.0 * n * (n + 1) / 2; // q·kᵀ and p·v over the causal pairs
        double expected = 2 * 32 * layer * n + 2.0 * 128256 * 4096 + attention;
        assertEquals(expected, StepCost.prefillFlops(c, n), expected * 1e-12);
        assertEquals(attention, StepCost.prefillAttentionFlops(c, n), attention * 1e-12);
        // the well-known rule of thumb: ≈ 2 · 7.5e9 FLOPs per token for the 8B's non-embedding weights
        assertEquals(2 * 6.98e9 * n, 2 * 32 * layer * n, 0.01 * 2 * 6.98e9 * n);
    }

    @Test
    void attentionBytesAreKvPlusQ() {
        ModelConfig c = ModelShapes.llama31_8b();
        // (1, 32k): 32768 keys × 8 kv heads × 128 × 2 (K, V) × 2 bytes + 32 heads × 128 × 4 bytes of q
        assertEquals(32768L * 8 * 128 * 2 * 2 + 32 * 128 * 4, StepCost.attentionBytes(c, 1, 32768));
    }
}
