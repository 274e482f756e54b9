package io.radixlm.backend;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.ModelFormatException;
import io.radixlm.model.RopeConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CpuBackend on small random models: weight validation, tracing, and paged-cache invariance. */
class CpuBackendTest {

    private static final int PAGE_SIZE = 4;

    /** Qwen3-like with GQA, q/k/v bias and q/k norm, so every optional path runs. */
    private static ModelConfig config(boolean tied) {
        return new ModelConfig("qwen3", 32, 48, 2, 4, 2, 8, 50, 128, 1e-6,
                RopeConfig.defaultRope(10000), tied, true, true, 1, List.of(2), "float32");
    }

    @Test
    void pagedCacheGivesTheSameLogitsHoweverTheSequenceIsSplit() {
        ModelConfig c = config(false);
        int[] ids = randomIds(new Random(3), 37, c.vocabSize());
        int numPages = PagedDriver.pagesFor(ids.length, PAGE_SIZE);
        try (CpuBackend backend = new CpuBackend(c, MapWeights.random(c, 7))) {
            backend.allocateKvCache(4 * numPages, PAGE_SIZE);
            float[] reference = PagedDriver.run(backend, PAGE_SIZE, List.of(ids),
                    List.of(PagedDriver.contiguousPages(0, numPages)), PagedDriver.oneShot(ids.length))[0];
            int[] scrambled = shuffledPages(new Random(5), numPages, 4 * numPages);
            float[] chunked = PagedDriver.run(backend, PAGE_SIZE, List.of(ids), List.of(scrambled),
                    PagedDriver.chunksThenDecode(ids.length, 5, 3, 7))[0];
            assertArrayEquals(reference, chunked, 1e-5f);
        }
    }

    @Test
    void twoSequencesInOneBatchEqualEachRunAlone() {
        ModelConfig c = config(true);
        Random rnd = new Random(11);
        int[] a = randomIds(rnd, 23, c.vocabSize());
        int[] b = randomIds(rnd, 14, c.vocabSize());
        int pagesA = PagedDriver.pagesFor(a.length, PAGE_SIZE);
        int pagesB = PagedDriver.pagesFor(b.length, PAGE_SIZE);
        try (CpuBackend backend = new CpuBackend(c, MapWeights.random(c, 13))) {
            backend.allocateKvCache(2 * (pagesA + pagesB), PAGE_SIZE);
            float[] aloneA = PagedDriver.run(backend, PAGE_SIZE, List.of(a),
                    List.of(PagedDriver.contiguousPages(0, pagesA)), PagedDriver.oneShot(a.length))[0];
            float[] aloneB = PagedDriver.run(backend, PAGE_SIZE, List.of(b),
                    List.of(PagedDriver.contiguousPages(pagesA, pagesB)), PagedDriver.oneShot(b.length))[0];
            int[] free = shuffledPages(new Random(17), pagesA + pagesB, 2 * (pagesA + pagesB));
            int[] pagesOfA = java.util.Arrays.copyOfRange(free, 0, pagesA);
            int[] pagesOfB = java.util.Arrays.copyOfRange(free, pagesA, pagesA + pagesB);
            // A prefills 9, then decodes while B prefills in chunks and then decodes alongside.
            List<int[]> schedule = new ArrayList<>(List.of(new int[] {9, 0}, new int[] {1, 6}, new int[] {1, 5}));
            for (int done = 11, doneB = 11; done < a.length || doneB < b.length; done++, doneB++) {
                schedule.add(new int[] {done < a.length ? 1 : 0, doneB < b.length ? 1 : 0});
            }
            float[][] together = PagedDriver.run(backend, PAGE_SIZE, List.of(a, b), List.of(pagesOfA, pagesOfB), schedule);
            assertArrayEquals(aloneA, together[0], 1e-5f);
            assertArrayEquals(aloneB, together[1], 1e-5f);
        }
    }

    @Test
    void traceReportsEveryStageAndTheLogitsItReturns() {
        ModelConfig c = config(true);
        try (CpuBackend backend = new CpuBackend(c, MapWeights.random(c, 1))) {
            backend.allocateKvCache(4, PAGE_SIZE);
            ForwardBatch batch = new ForwardBatch(new int[] {1, 5, 9}, new int[] {0, 1, 2}, new int[] {0, 1, 2},
                    new int[] {0, 3}, new int[] {3}, new int[][] {{0}}, new int[] {2});
            List<String> names = new ArrayList<>();
            float[][] traced = new float[1][];
            float[] logits = backend.forward(batch, (name, values, rows, cols) -> {
                names.add(name + ":" + rows + "x" + cols);
                assertEquals(rows * cols, values.length);
                if (name.equals("logits")) traced[0] = values;
            });
            assertEquals(List.of("embedding:3x32", "layer.0.attention:3x32", "layer.0.mlp:3x32",
                    "layer.1.attention:3x32", "layer.1.mlp:3x32", "final_norm:1x32", "logits:1x50"), names);
            assertNotNull(traced[0]);
            assertArrayEquals(logits, traced[0]);
        }
    }

    @Test
    void missingOrMisshapenTensorsAreRejectedBeforeUse() {
        ModelConfig c = config(false);
        ModelFormatException missing = assertThrows(ModelFormatException.class,
                () -> new CpuBackend(c, MapWeights.random(c, 1).remove("model.layers.1.self_attn.k_proj.bias")));
        assertTrue(missing.getMessage().contains("model.layers.1.self_attn.k_proj.bias"), missing.getMessage());
        assertThrows(ModelFormatException.class, () -> new CpuBackend(c, MapWeights.random(c, 1).remove("lm_head.weight")));
        ModelFormatException shape = assertThrows(ModelFormatException.class, () -> new CpuBackend(c,
                MapWeights.random(c, 1).put("model.norm.weight", new float[31], 31)));
        assertTrue(shape.getMessage().contains("model.norm.weight"), shape.getMessage());
    }

    @Test
    void maxKvPagesFitsTheHeapAndOneArrayPerLayer() {
        ModelConfig c = config(true);
        try (CpuBackend backend = new CpuBackend(c, MapWeights.random(c, 1))) {
            int pages = backend.maxKvPages(16);
            assertTrue(pages > 0);
            long bytes = (long) pages * 16 * c.kvBytesPerToken(Float.BYTES);
            assertTrue(bytes <= Runtime.getRuntime().maxMemory(), "KV cache larger than the heap: " + bytes);
            assertTrue((long) pages * 16 * c.kvDim() < Integer.MAX_VALUE);
        }
    }

    static int[] randomIds(Random rnd, int length, int vocab) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = rnd.nextInt(vocab);
        return ids;
    }

    /** count distinct page ids out of [0, poolSize), in random order. */
    static int[] shuffledPages(Random rnd, int count, int poolSize) {
        List<Integer> all = new ArrayList<>();
        for (int p = 0; p < poolSize; p++) all.add(p);
        Collections.shuffle(all, rnd);
        int[] pages = new int[count];
        for (int i = 0; i < count; i++) pages[i] = all.get(i);
        return pages;
    }
}
