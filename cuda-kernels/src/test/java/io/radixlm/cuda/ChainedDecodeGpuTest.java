package io.radixlm.cuda;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.backend.PendingIds;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.testing.Golden;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Decode steps enqueued one ahead of the host, their tokens fed on the GPU from the step before
 * ({@link CudaBackend#forwardSampleAsync}), against the same steps with the tokens read back and sent by the host
 * ({@link CudaBackend#forwardSample}): the same kernels on the same inputs (a draw depends on the row's seed and
 * step only), so the tokens must be the same, greedy or sampled at a temperature.
 */
@Tag("gpu")
class ChainedDecodeGpuTest {
    private static final int PAGE_SIZE = 16;
    private static final int PAGES_PER_SEQ = 24;
    private static final String MODEL = "llama3_gqa";
    /** Prompt lengths: one page, several pages, one token. */
    private static final int[] PROMPTS = {20, 280, 1};
    private static final int STEPS = 10;
    /** From this step on the second sequence has stopped: the fed rows are {0, 2}, not the identity. */
    private static final int DROP_STEP = 6;

    @ParameterizedTest(name = "graphs {0}, temperature {1}")
    @CsvSource({"true, 0", "false, 0", "true, 0.8", "false, 0.8"})
    void tokensFedOnTheGpuAreTheTokensTheHostWouldSend(boolean graphs, double temperature) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(MODEL);
        ModelConfig config = ConfigLoader.load(dir);
        int[][] prompts = new int[PROMPTS.length][];
        int[] source = Golden.modelReference(MODEL).sequence(300).ids();
        for (int s = 0; s < PROMPTS.length; s++) prompts[s] = Arrays.copyOf(source, PROMPTS[s]);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CudaBackend host = new CudaBackend(config, weights, 0.45);
             CudaBackend chained = new CudaBackend(config, weights, 0.45)) {
            for (CudaBackend gpu : new CudaBackend[] {host, chained}) {
                gpu.setGraphsEnabled(graphs);
                gpu.allocateKvCache(PROMPTS.length * PAGES_PER_SEQ, PAGE_SIZE);
            }
            List<int[]> byHost = new ArrayList<>();
            int[] ids = host.forwardSample(prefill(prompts), params(PROMPTS.length, temperature), steps(PROMPTS.length, 0));
            byHost.add(ids);
            for (int step = 0; step < STEPS; step++) {
                int[] seqs = live(step);
                int[] tokens = new int[seqs.length];
                for (int i = 0; i < seqs.length; i++) tokens[i] = ids[rowOf(step - 1, seqs[i])];
                ids = host.forwardSample(decode(seqs, tokens, step), params(seqs.length, temperature),
                        steps(seqs.length, step + 1));
                byHost.add(ids);
            }

            List<int[]> byDevice = new ArrayList<>();
            PendingIds previous = chained.forwardSampleAsync(prefill(prompts), params(PROMPTS.length, temperature),
                    steps(PROMPTS.length, 0), null);
            for (int step = 0; step < STEPS; step++) {
                int[] seqs = live(step);
                int[] fed = new int[seqs.length];
                for (int i = 0; i < seqs.length; i++) fed[i] = Backend.fedId(rowOf(step - 1, seqs[i]));
                PendingIds next = chained.forwardSampleAsync(decode(seqs, fed, step), params(seqs.length, temperature),
                        steps(seqs.length, step + 1), previous);
                byDevice.add(previous.await());
                previous = next;
            }
            byDevice.add(previous.await());

            assertEquals(byHost.size(), byDevice.size());
            for (int step = 0; step < byHost.size(); step++) {
                assertArrayEquals(byHost.get(step), byDevice.get(step), "ids of step " + step + " (0: prefill)");
            }
            System.err.printf("[gpu-test] chained decode (graphs %s, temperature %s): %d steps, tokens of sequence 0: %s%n",
                    graphs, temperature, byHost.size(), Arrays.toString(byHost.stream().mapToInt(r -> r[0]).toArray()));
            // a fed id needs the step it comes from
            ForwardBatch fedBatch = decode(live(0), new int[] {Backend.fedId(0), Backend.fedId(1), Backend.fedId(2)}, 0);
            assertThrows(IllegalArgumentException.class,
                    () -> chained.forwardSampleAsync(fedBatch, params(3, temperature), steps(3, 0), null));
            assertThrows(IllegalArgumentException.class, () -> chained.forwardGreedy(fedBatch));
        }
    }

    /** The sequences decoding at step: all, then without the second one from DROP_STEP on. */
    private static int[] live(int step) {
        return step < DROP_STEP ? new int[] {0, 1, 2} : new int[] {0, 2};
    }

    /** The logit row of sequence s in step (-1: the prefill). */
    private static int rowOf(int step, int s) {
        int[] seqs = step < 0 ? new int[] {0, 1, 2} : live(step);
        for (int i = 0; i < seqs.length; i++) if (seqs[i] == s) return i;
        throw new IllegalArgumentException("sequence " + s + " is not in step " + step);
    }

    private static ForwardBatch prefill(int[][] prompts) {
        ForwardBatchBuilder builder = new ForwardBatchBuilder(PAGE_SIZE);
        for (int s = 0; s < prompts.length; s++) {
            builder.addChunk(prompts[s], 0, prompts[s].length, ForwardBatchBuilder.consecutivePages(s * PAGES_PER_SEQ, PAGES_PER_SEQ));
        }
        return builder.buildLastRows();
    }

    /** One token for each of seqs at the position after its prompt and step earlier decode tokens. */
    private static ForwardBatch decode(int[] seqs, int[] tokens, int step) {
        int[] positions = new int[seqs.length];
        int[][] pages = new int[seqs.length][];
        for (int i = 0; i < seqs.length; i++) {
            positions[i] = PROMPTS[seqs[i]] + step;
            pages[i] = ForwardBatchBuilder.consecutivePages(seqs[i] * PAGES_PER_SEQ, PAGES_PER_SEQ);
        }
        return ForwardBatchBuilder.decode(tokens, positions, pages, PAGE_SIZE);
    }

    /** Greedy at temperature 0; else llama.cpp's defaults with a seed per row. */
    private static SamplingParams[] params(int n, double temperature) {
        SamplingParams[] params = new SamplingParams[n];
        for (int r = 0; r < n; r++) {
            params[r] = temperature == 0 ? SamplingParams.greedy(1)
                    : new SamplingParams(temperature, 40, 0.95, 0.05, 1000 + r, 1, List.of(), true);
        }
        return params;
    }

    private static int[] steps(int n, int step) {
        int[] steps = new int[n];
        Arrays.fill(steps, step);
        return steps;
    }
}
