package io.radixlm.cuda.bench;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** nano-vllm's workload: 256 requests, lengths uniform in [100, 1024], ids inside the vocabulary, reproducible. */
class NanoVllmWorkloadTest {
    private static final int VOCAB = 151936;

    @Test
    void standardWorkloadHasNanoVllmsRanges() {
        NanoVllmWorkload w = NanoVllmWorkload.standard(VOCAB, 0);
        assertEquals(256, w.items().size());
        int minIn = Integer.MAX_VALUE, maxIn = 0, minOut = Integer.MAX_VALUE, maxOut = 0;
        for (NanoVllmWorkload.Item item : w.items()) {
            minIn = Math.min(minIn, item.promptIds().length);
            maxIn = Math.max(maxIn, item.promptIds().length);
            minOut = Math.min(minOut, item.outputTokens());
            maxOut = Math.max(maxOut, item.outputTokens());
            for (int id : item.promptIds()) assertTrue(id >= 0 && id < VOCAB, "id " + id);
        }
        assertTrue(minIn >= 100 && maxIn <= 1024 && minOut >= 100 && maxOut <= 1024);
        // 256 uniform draws cover most of the range: both ends come within 50 of the bounds
        assertTrue(minIn < 150 && maxIn > 974 && minOut < 150 && maxOut > 974, minIn + " " + maxIn + " " + minOut + " " + maxOut);
        // mean of uniform [100, 1024] is 562; the mean of 256 draws lies within ±60 (about 4 standard errors)
        assertEquals(562, w.totalOutputTokens() / 256.0, 60);
        assertEquals(562, w.totalPromptTokens() / 256.0, 60);
    }

    @Test
    void sameSeedSameRequestsOtherSeedOthers() {
        NanoVllmWorkload a = NanoVllmWorkload.standard(VOCAB, 42);
        NanoVllmWorkload b = NanoVllmWorkload.standard(VOCAB, 42);
        NanoVllmWorkload c = NanoVllmWorkload.standard(VOCAB, 43);
        for (int i = 0; i < a.items().size(); i++) {
            assertArrayEquals(a.items().get(i).promptIds(), b.items().get(i).promptIds());
            assertEquals(a.items().get(i).outputTokens(), b.items().get(i).outputTokens());
        }
        assertFalse(Arrays.equals(a.items().get(0).promptIds(), c.items().get(0).promptIds()));
    }

    @Test
    void badArgumentsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> NanoVllmWorkload.generate(0, 100, 1024, VOCAB, 0));
        assertThrows(IllegalArgumentException.class, () -> NanoVllmWorkload.generate(1, 200, 100, VOCAB, 0));
    }
}
