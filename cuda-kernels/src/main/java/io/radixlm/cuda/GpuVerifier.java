package io.radixlm.cuda;

import io.radixlm.backend.CpuBackend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.model.ModelConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What `radixlm verify` computes: the same prompts through the CPU reference and the CUDA backend,
 * op by op (embedding, each layer's attention and MLP output, final norm, logits) — the largest
 * relative error of any row — and greedy-token agreement, on the prompt positions and on a greedy
 * continuation that feeds both backends the CPU's token (so one disagreement does not cascade).
 */
public final class GpuVerifier {
    /** A disagreement at a near-tie (the CPU's top two logits closer than this) is reported but tolerated. */
    public static final double NEAR_TIE_GAP = 1e-2;
    /**
     * Default bound on an op's worst row: bf16 weights and KV round each value by up to 2^-9, and the
     * error grows layer by layer (whole-tensor errors of 3e-3 to 7e-3 on the golden models); the worst
     * single row sits above the whole-tensor figure.
     */
    public static final double DEFAULT_TOLERANCE = 2e-2;
    private static final int PAGE_SIZE = 16;

    private GpuVerifier() { }

    /** The largest per-row relative error of one op over all prompts. */
    public record OpError(String op, double maxRelativeError) { }

    /** A position where the backends' argmax differ, with the CPU's gap between its top two logits. */
    public record Disagreement(int promptIndex, int position, int cpuToken, int gpuToken, double cpuTopTwoGap) {
        public boolean nearTie() { return cpuTopTwoGap < NEAR_TIE_GAP; }
    }

    /**
     * @param ops           per op, in forward order
     * @param numCompared   positions whose argmax were compared (prompt positions + continuation steps)
     */
    public record Report(List<OpError> ops, int numCompared, List<Disagreement> disagreements, double tolerance) {
        /** Every op within tolerance and no disagreement except at near-ties. */
        public boolean passed() {
            return ops.stream().allMatch(o -> o.maxRelativeError() <= tolerance)
                    && disagreements.stream().allMatch(Disagreement::nearTie);
        }

        public String toText() {
            StringBuilder out = new StringBuilder(String.format("%-24s %s%n", "op", "max relative error"));
            for (OpError o : ops) {
                out.append(String.format("%-24s %.3e%s%n", o.op(), o.maxRelativeError(),
                        o.maxRelativeError() > tolerance ? "  > tolerance " + tolerance : ""));
            }
            out.append(String.format("greedy tokens: %d of %d agree%n", numCompared - disagreements.size(), numCompared));
            for (Disagreement d : disagreements) {
                out.append(String.format("  prompt %d position %d: cpu %d, cuda %d (cpu top-2 gap %.2e%s)%n", d.promptIndex(),
                        d.position(), d.cpuToken(), d.gpuToken(), d.cpuTopTwoGap(), d.nearTie() ? ", a near-tie" : ""));
            }
            out.append(passed() ? "PASS" : "FAIL").append(String.format(" (tolerance %.1e)%n", tolerance));
            return out.toString();
        }
    }

    /** Runs every prompt (then continuationTokens greedy steps) through both backends, each prompt in fresh pages. */
    public static Report verify(CpuBackend cpu, CudaBackend gpu, List<int[]> prompts, int continuationTokens,
                                double tolerance) {
        ModelConfig config = cpu.config();
        int maxLength = prompts.stream().mapToInt(p -> p.length).max().orElse(0) + continuationTokens;
        if (maxLength > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("prompt + continuation of " + maxLength + " tokens exceeds the context of "
                    + config.maxPositionEmbeddings());
        }
        int pagesPerPrompt = (maxLength + PAGE_SIZE - 1) / PAGE_SIZE;
        cpu.allocateKvCache(pagesPerPrompt * prompts.size(), PAGE_SIZE);
        gpu.allocateKvCache(pagesPerPrompt * prompts.size(), PAGE_SIZE);
        Map<String, Double> worst = new LinkedHashMap<>();
        List<Disagreement> disagreements = new ArrayList<>();
        int compared = 0;
        for (int p = 0; p < prompts.size(); p++) {
            int[] table = new int[pagesPerPrompt];
            for (int i = 0; i < pagesPerPrompt; i++) table[i] = p * pagesPerPrompt + i;
            int[] prompt = prompts.get(p);
            ForwardBatch prefill = batch(prompt, 0, prompt.length, table);
            Map<String, float[]> cpuOps = new LinkedHashMap<>();
            float[] cpuLogits = cpu.forward(prefill, (name, values, rows, cols) -> cpuOps.put(name, values));
            float[] gpuLogits = gpu.forward(prefill, (name, values, rows, cols) ->
                    worst.merge(name, maxRowError(values, cpuOps.get(name), cols), Math::max));
            compared += compareArgmax(p, 0, cpuLogits, gpuLogits, config.vocabSize(), disagreements);
            int[] sequence = Arrays.copyOf(prompt, prompt.length + continuationTokens);
            int next = argmax(cpuLogits, prompt.length - 1, config.vocabSize());
            for (int step = 0; step < continuationTokens; step++) {
                int position = prompt.length + step;
                sequence[position] = next;
                ForwardBatch decode = batch(sequence, position, position + 1, table);
                float[] cpuStep = cpu.forward(decode);
                float[] gpuStep = gpu.forward(decode);
                compared += compareArgmax(p, position, cpuStep, gpuStep, config.vocabSize(), disagreements);
                next = argmax(cpuStep, 0, config.vocabSize());
            }
        }
        List<OpError> ops = new ArrayList<>();
        worst.forEach((op, error) -> ops.add(new OpError(op, error)));
        return new Report(List.copyOf(ops), compared, List.copyOf(disagreements), tolerance);
    }

    private static ForwardBatch batch(int[] tokens, int from, int to, int[] fullTable) {
        return new ForwardBatchBuilder(PAGE_SIZE).addChunk(tokens, from, to, fullTable).buildAllRows();
    }

    private static int compareArgmax(int promptIndex, int firstPosition, float[] cpu, float[] gpu, int vocab,
                                     List<Disagreement> out) {
        int rows = cpu.length / vocab;
        for (int r = 0; r < rows; r++) {
            int cpuToken = argmax(cpu, r, vocab);
            int gpuToken = argmax(gpu, r, vocab);
            if (cpuToken != gpuToken) {
                float best = cpu[r * vocab + cpuToken];
                float second = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < vocab; i++) {
                    if (i != cpuToken) second = Math.max(second, cpu[r * vocab + i]);
                }
                out.add(new Disagreement(promptIndex, firstPosition + r, cpuToken, gpuToken, best - second));
            }
        }
        return rows;
    }

    private static int argmax(float[] logits, int row, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (logits[row * vocab + i] > logits[row * vocab + best]) best = i;
        return best;
    }

    /** max over rows of ‖actual − expected‖ / ‖expected‖ for a (rows, cols) tensor; NaN counts as infinite. */
    static double maxRowError(float[] actual, float[] expected, int cols) {
        double worst = 0;
        for (int r = 0; r < expected.length / cols; r++) {
            double diff = 0;
            double norm = 0;
            for (int c = r * cols; c < (r + 1) * cols; c++) {
                double d = (double) actual[c] - expected[c];
                diff += d * d;
                norm += (double) expected[c] * expected[c];
            }
            double error = Math.sqrt(diff / Math.max(norm, 1e-30));
            worst = Math.max(worst, Double.isNaN(error) ? Double.POSITIVE_INFINITY : error);
        }
        return worst;
    }
}
