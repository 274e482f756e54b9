package io.radixlm.backend;

import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.testing.Golden;
import io.radixlm.testing.ModelReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CpuBackend against HF transformers: float32 logits that transformers computed from the same bf16
 * weights (golden fixtures), greedy continuations, and the paged cache used in other ways.
 */
class CpuBackendGoldenTest {

    private static final int PAGE_SIZE = 16;
    private static final int NUM_PAGES = 64;

    static Stream<Arguments> modelsAndLengths() {
        return Golden.MODEL_NAMES.stream().flatMap(n -> Golden.SEQUENCE_LENGTHS.stream().map(l -> Arguments.of(n, l)));
    }

    static Stream<String> models() {
        return Golden.MODEL_NAMES.stream();
    }

    private static CpuBackend open(String name) {
        Path dir = Golden.modelDir(name);
        ModelConfig config = ConfigLoader.load(dir);
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir)) {
            CpuBackend backend = new CpuBackend(config, weights);
            backend.allocateKvCache(NUM_PAGES, PAGE_SIZE);
            return backend;
        }
    }

    @ParameterizedTest(name = "{0} length {1}")
    @MethodSource("modelsAndLengths")
    void logitsOfEveryPositionMatchTransformers(String name, int length) {
        int[] ids = Golden.modelReference(name).sequence(length).ids();
        float[] reference = Golden.referenceLogits(name, length).data(); // (length, vocab)
        try (CpuBackend backend = open(name)) {
            float[] ours = PagedDriver.run(backend, PAGE_SIZE, List.of(ids),
                    List.of(PagedDriver.contiguousPages(0, PagedDriver.pagesFor(length, PAGE_SIZE))),
                    PagedDriver.oneShot(length))[0];
            double relative = Golden.relativeError(ours, reference);
            System.out.printf("%s length %d: relative error %.3g, max abs error %.3g%n",
                    name, length, relative, maxAbsError(ours, reference));
            assertTrue(relative <= 1e-3, name + " length " + length + ": relative error " + relative);
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void chunkedPrefillOnScrambledPagesThenDecodeEqualsOneShot(String name) {
        int[] ids = Golden.modelReference(name).sequence(300).ids();
        int numPages = PagedDriver.pagesFor(ids.length, PAGE_SIZE);
        try (CpuBackend backend = open(name)) {
            float[] oneShot = PagedDriver.run(backend, PAGE_SIZE, List.of(ids),
                    List.of(PagedDriver.contiguousPages(0, numPages)), PagedDriver.oneShot(ids.length))[0];
            int[] scrambled = CpuBackendTest.shuffledPages(new Random(name.hashCode()), numPages, NUM_PAGES);
            float[] stepwise = PagedDriver.run(backend, PAGE_SIZE, List.of(ids), List.of(scrambled),
                    PagedDriver.chunksThenDecode(ids.length, 37, 5, 101, 1, 19))[0];
            assertArrayEquals(oneShot, stepwise, 1e-5f);
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void twoSequencesBatchedTogetherEqualEachAlone(String name) {
        ModelReference reference = Golden.modelReference(name);
        int[] a = reference.sequence(33).ids();
        int[] b = reference.sequence(7).ids();
        try (CpuBackend backend = open(name)) {
            float[] aloneA = PagedDriver.run(backend, PAGE_SIZE, List.of(a),
                    List.of(PagedDriver.contiguousPages(0, 3)), PagedDriver.oneShot(a.length))[0];
            float[] aloneB = PagedDriver.run(backend, PAGE_SIZE, List.of(b),
                    List.of(PagedDriver.contiguousPages(3, 1)), PagedDriver.oneShot(b.length))[0];
            // A prefills 20 with B's first 3; then A's last 13 while B decodes one by one, then A decodes alone.
            List<int[]> schedule = new ArrayList<>(List.of(new int[] {20, 3}, new int[] {13, 1}));
            for (int doneA = 33, doneB = 4; doneA < a.length || doneB < b.length; doneA++, doneB++) {
                schedule.add(new int[] {doneA < a.length ? 1 : 0, doneB < b.length ? 1 : 0});
            }
            float[][] together = PagedDriver.run(backend, PAGE_SIZE, List.of(a, b),
                    List.of(new int[] {41, 7, 23}, new int[] {12}), schedule);
            assertArrayEquals(aloneA, together[0], 1e-5f);
            assertArrayEquals(aloneB, together[1], 1e-5f);
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void greedyContinuationEqualsTransformers(String name) {
        ModelReference.Greedy greedy = Golden.modelReference(name).greedy();
        int[] prompt = greedy.prompt();
        int[] expected = greedy.tokens();
        int[] pages = PagedDriver.contiguousPages(0, PagedDriver.pagesFor(prompt.length + expected.length, PAGE_SIZE));
        int[] generated = new int[expected.length];
        try (CpuBackend backend = open(name)) {
            float[] logits = backend.forward(step(Arrays.copyOf(prompt, prompt.length), 0, pages, prompt.length - 1));
            for (int i = 0; i < expected.length; i++) {
                generated[i] = argmax(logits);
                if (i + 1 < expected.length) {
                    logits = backend.forward(step(new int[] {generated[i]}, prompt.length + i, pages, 0));
                }
            }
        }
        assertArrayEquals(expected, generated);
    }

    /** One sequence's new tokens starting at position start, returning the logits of one row. */
    private static ForwardBatch step(int[] tokens, int start, int[] pages, int logitRow) {
        int n = tokens.length;
        int[] positions = new int[n];
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            positions[i] = start + i;
            slots[i] = pages[positions[i] / PAGE_SIZE] * PAGE_SIZE + positions[i] % PAGE_SIZE;
        }
        return new ForwardBatch(tokens, positions, slots, new int[] {0, n}, new int[] {start + n},
                new int[][] {pages}, new int[] {logitRow});
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    static double maxAbsError(float[] ours, float[] ref) {
        double max = 0;
        for (int i = 0; i < ref.length; i++) max = Math.max(max, Math.abs((double) ours[i] - ref[i]));
        return max;
    }
}
