package io.radixlm.cuda;

import io.radixlm.sampling.SamplingParams;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How long sample_rows takes on a Qwen-sized vocabulary (151936), per filter combination and batch size.
 * Each filter costs passes over the row (argmax 1, top-k 8, top-p 9, the draw 2); a float64 exp per token
 * only in the first pass of each radix cut and in the draw without filters (other passes skip tokens by
 * their logit first). The bound only catches a pathological kernel; the figures go to the log.
 */
@Tag("gpu")
@Tag("speed") // timings mean nothing under compute-sanitizer; device-test leaves them out of that pass
class SamplingSpeedGpuTest {
    private static final int VOCAB = 151936;
    private static final int REPEATS = 10;

    @Test
    void samplingTimesPerLaunch() {
        CudaDevice device = GpuTestSupport.device();
        SamplingParams[] cases = {
            SamplingParams.greedy(1),
            new SamplingParams(0.8, 0, 1.0, 0, 1, 16, List.of(), false),
            new SamplingParams(0.8, 0, 0.9, 0, 1, 16, List.of(), false),
            new SamplingParams(0.8, 40, 0.9, 0.05, 1, 16, List.of(), false),
        };
        Random random = new Random(9);
        for (int numRows : new int[] {1, 8, 64}) {
            float[] logits = GpuTestSupport.randomFloats(random, numRows * VOCAB, 8);
            try (DeviceMemory logitsOnGpu = GpuTestSupport.upload(device, logits);
                 DeviceMemory params = device.allocate(8L * numRows * SamplingKernel.PARAMS_PER_ROW);
                 DeviceMemory out = device.allocate(4L * numRows)) {
                SamplingKernel kernel = new SamplingKernel(device);
                for (SamplingParams p : cases) {
                    SamplingParams[] rows = new SamplingParams[numRows];
                    Arrays.fill(rows, p);
                    params.copyFrom(SamplingKernel.pack(rows, new int[numRows]));
                    kernel.launch(logitsOnGpu, params, out, numRows, VOCAB); // warm-up
                    float[] millis = new float[REPEATS];
                    for (int i = 0; i < REPEATS; i++) {
                        millis[i] = device.timeMillis(() -> kernel.launch(logitsOnGpu, params, out, numRows, VOCAB));
                    }
                    Arrays.sort(millis);
                    float median = millis[REPEATS / 2];
                    System.err.printf("[gpu-test] sampling speed: vocab %d, %d rows, T %.1f top-k %d top-p %.2f min-p %.2f: %.3f ms%n",
                            VOCAB, numRows, p.temperature(), p.topK(), p.topP(), p.minP(), median);
                    assertTrue(median < 50, "sampling took " + median + " ms");
                }
            }
        }
    }
}
