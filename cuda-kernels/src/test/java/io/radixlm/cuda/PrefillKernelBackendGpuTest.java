package io.radixlm.cuda;

import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.testing.Golden;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CudaBackend's split of a step between the attention kernels, on the golden models: after three prompts
 * are prefilled, one step mixes a 40-token chunk after a 64-token cached prefix (tiled prefill kernel)
 * with two decodes (paged kernel). Every logit row must match the CPU reference backend fed the same
 * batches, with the prefill kernel on and off.
 */
@Tag("gpu")
class PrefillKernelBackendGpuTest {
    private static final int PAGE_SIZE = 16;
    private static final double BF16_LOGITS_TOLERANCE = 1e-2;
    /** Prompt lengths, then the new tokens of the mixed step: a chunk for sequence 0, one token each for 1 and 2. */
    private static final int[] PROMPT = {64, 30, 50};
    private static final int[] STEP = {40, 1, 1};
    private static final int[] FIRST_PAGE = {0, 20, 40};

    static Stream<String> models() { return Golden.MODEL_NAMES.stream(); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void mixedChunkAndDecodeStepMatchesTheCpuBackend(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(300).ids();
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CpuBackend cpu = new CpuBackend(config, weights)) {
            cpu.allocateKvCache(64, PAGE_SIZE);
            cpu.forward(batch(ids, new int[3], PROMPT));
            float[] expected = cpu.forward(batch(ids, PROMPT, STEP));
            float[] withKernel = runOnGpu(config, weights, ids, true);
            float[] withoutKernel = runOnGpu(config, weights, ids, false);
            double errorOn = Golden.relativeError(withKernel, expected);
            double errorOff = Golden.relativeError(withoutKernel, expected);
            System.err.printf("[gpu-test] %s mixed chunk + decode step vs CPU: prefill kernel on %.2e, off %.2e, on vs off %.2e%n",
                    model, errorOn, errorOff, Golden.relativeError(withKernel, withoutKernel));
            assertTrue(errorOn <= BF16_LOGITS_TOLERANCE, "with the prefill kernel: relative error " + errorOn);
            assertTrue(errorOff <= BF16_LOGITS_TOLERANCE, "without the prefill kernel: relative error " + errorOff);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void fewTokensAfterALongPrefixSplitOverKeysAndMatchTheCpuBackend(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        int[] ids = Golden.modelReference(model).sequence(300).ids();
        // 480 cached tokens, then 20 new ones: with splits of at least 64 keys the golden models' few KV heads split
        ForwardBatch prefix = singleSequence(ids, 0, 480);
        ForwardBatch step = singleSequence(ids, 480, 20);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CpuBackend cpu = new CpuBackend(config, weights)) {
            cpu.allocateKvCache(64, PAGE_SIZE);
            cpu.forward(prefix);
            float[] expected = cpu.forward(step);
            float[][] gpu = new float[2][];
            for (int on = 0; on < 2; on++) {
                try (CudaBackend backend = new CudaBackend(config, weights, 0.9)) {
                    backend.setPrefillSplitEnabled(on == 1);
                    backend.setPrefillMinSplitKeys(64);
                    backend.allocateKvCache(64, PAGE_SIZE);
                    backend.forward(prefix);
                    gpu[on] = backend.forward(step);
                }
            }
            double errorOn = Golden.relativeError(gpu[1], expected);
            double errorOff = Golden.relativeError(gpu[0], expected);
            System.err.printf("[gpu-test] %s 20 tokens after a 480-token prefix vs CPU: split on %.2e, off %.2e, on vs off %.2e%n",
                    model, errorOn, errorOff, Golden.relativeError(gpu[1], gpu[0]));
            assertTrue(errorOn <= BF16_LOGITS_TOLERANCE, "with the split: relative error " + errorOn);
            assertTrue(errorOff <= BF16_LOGITS_TOLERANCE, "without the split: relative error " + errorOff);
        }
    }

    /** One sequence (pages 0, 1, ...) bringing tokens [from, from + count), every new token's logits back. */
    private static ForwardBatch singleSequence(int[] ids, int from, int count) {
        int[] pages = ForwardBatchBuilder.consecutivePages(0, ForwardBatchBuilder.pagesFor(from + count, PAGE_SIZE));
        return new ForwardBatchBuilder(PAGE_SIZE).add(cycled(ids, from, count, 0), from, pages).buildAllRows();
    }

    /** Tokens [from, from + count) of ids shifted by shift and repeated as often as needed. */
    private static int[] cycled(int[] ids, int from, int count, int shift) {
        int[] tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = ids[(from + i + shift) % ids.length];
        return tokens;
    }

    private static float[] runOnGpu(ModelConfig config, SafetensorsWeights weights, int[] ids, boolean prefillKernel) {
        try (CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            gpu.setPrefillKernelEnabled(prefillKernel);
            gpu.allocateKvCache(64, PAGE_SIZE);
            gpu.forward(batch(ids, new int[3], PROMPT));
            return gpu.forward(batch(ids, PROMPT, STEP));
        }
    }

    /**
     * Sequence s (tokens ids shifted by 7·s, so that the three differ) brings tokens [from[s], from[s] + count[s]);
     * its pages start at FIRST_PAGE[s]; every new token's logits come back.
     */
    private static ForwardBatch batch(int[] ids, int[] from, int[] count) {
        ForwardBatchBuilder builder = new ForwardBatchBuilder(PAGE_SIZE);
        for (int s = 0; s < 3; s++) {
            int[] pages = ForwardBatchBuilder.consecutivePages(FIRST_PAGE[s], ForwardBatchBuilder.pagesFor(from[s] + count[s], PAGE_SIZE));
            builder.add(cycled(ids, from[s], count[s], 7 * s), from[s], pages);
        }
        return builder.buildAllRows();
    }
}
