package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.cuda.CudaBackend;
import io.radixlm.model.ModelConfig;

import java.util.SplittableRandom;

/**
 * The prefill of one prompt of n random tokens through {@link CudaBackend#forwardGreedy} (the logits of
 * its last token only, as the engine asks): tokens/s and MFU = FLOPs ({@link StepCost#prefillFlops})
 * ÷ time ÷ the measured GEMM rate.
 */
final class PrefillBench {
    private PrefillBench() { }

    static Measurement run(String shape, CudaBackend gpu, int n, int reps, Ceilings ceilings) {
        ModelConfig c = gpu.config();
        ForwardBatch batch = promptBatch(n, c.vocabSize());
        int[][] out = new int[1][];
        double millis = Timing.medianHostMillis(1, reps, () -> out[0] = gpu.forwardGreedy(batch));
        if (out[0][0] < 0 || out[0][0] >= c.vocabSize()) throw new IllegalStateException("prefill produced id " + out[0][0]);
        double flops = StepCost.prefillFlops(c, n);
        double mfu = flops / (millis / 1e3) / ceilings.gemmFlopsPerSecond();
        double tokensPerSecond = n / (millis / 1e3);
        ObjectNode json = JsonNodeFactory.instance.objectNode()
                .put("shape", shape).put("tokens", n).put("ms", millis).put("tokens_per_s", tokensPerSecond)
                .put("flops", flops).put("attention_flops", StepCost.prefillAttentionFlops(c, n)).put("mfu", mfu);
        return new Measurement("prefill", shape + ", " + n + " tokens",
                String.format("%,.0f tok/s, %.1f ms, MFU %.1f%%", tokensPerSecond, millis, 100 * mfu), json);
    }

    /** One sequence of n random tokens at positions 0..n-1 on pages 0, 1, ...; logits of the last token. */
    static ForwardBatch promptBatch(int n, int vocab) {
        int[] tokens = new int[n];
        SplittableRandom random = new SplittableRandom(n);
        for (int i = 0; i < n; i++) tokens[i] = random.nextInt(vocab);
        int[] table = new int[DecodeBench.pagesFor(n)];
        for (int p = 0; p < table.length; p++) table[p] = p;
        return new ForwardBatchBuilder(DecodeBench.PAGE_SIZE).add(tokens, 0, table).buildLastRows();
    }
}
