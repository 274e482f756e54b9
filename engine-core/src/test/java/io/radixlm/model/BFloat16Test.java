package io.radixlm.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BFloat16Test {
    private static short bf(float f) { return BFloat16.fromFloat(f); }

    private static float fromBits(int bits) { return Float.intBitsToFloat(bits); }

    @Test
    void exactValuesRoundTrip() {
        assertEquals((short) 0x3F80, bf(1.0f));
        assertEquals((short) 0xC000, bf(-2.0f));
        assertEquals((short) 0x0000, bf(0.0f));
        assertEquals((short) 0x8000, bf(-0.0f));
        assertEquals((short) 0x7F80, bf(Float.POSITIVE_INFINITY));
        assertEquals((short) 0xFF80, bf(Float.NEGATIVE_INFINITY));
        assertEquals(1.0f, BFloat16.toFloat((short) 0x3F80));
        assertEquals(-2.0f, BFloat16.toFloat((short) 0xC000));
        assertEquals(3.140625f, BFloat16.toFloat((short) 0x4049)); // 1.1001001b * 2^1
    }

    @Test
    void roundsToNearestEven() {
        // 0x3F808000 lies exactly halfway between 0x3F80 and 0x3F81: the even one (0x3F80) wins.
        assertEquals((short) 0x3F80, bf(fromBits(0x3F808000)));
        // 0x3F818000 is halfway between 0x3F81 and 0x3F82: the even one (0x3F82) wins.
        assertEquals((short) 0x3F82, bf(fromBits(0x3F818000)));
        // Just above / below half.
        assertEquals((short) 0x3F81, bf(fromBits(0x3F808001)));
        assertEquals((short) 0x3F80, bf(fromBits(0x3F807FFF)));
        // pi = 0x40490FDB rounds down to 0x4049 (low half 0x0FDB < 0x8000).
        assertEquals((short) 0x4049, bf((float) Math.PI));
        // Negative numbers round on magnitude: -1.00390625 (0xBF808000) ties to even 0xBF80.
        assertEquals((short) 0xBF80, bf(fromBits(0xBF808000)));
    }

    @Test
    void largestFiniteRoundsToInfinityAndNaNStaysNaN() {
        assertEquals((short) 0x7F80, bf(Float.MAX_VALUE)); // 0x7F7FFFFF is above the last bf16 midpoint
        assertEquals((short) 0x7F7F, bf(fromBits(0x7F7F7FFF)));
        // A NaN whose payload sits only in the low 16 bits would truncate to infinity; it must stay NaN.
        float lowPayloadNaN = fromBits(0x7F800001);
        assertTrue(Float.isNaN(lowPayloadNaN));
        assertTrue(Float.isNaN(BFloat16.toFloat(bf(lowPayloadNaN))));
        assertTrue(Float.isNaN(BFloat16.toFloat(bf(fromBits(0xFFFFFFFF)))));
        assertTrue(Float.isNaN(BFloat16.toFloat(bf(Float.NaN))));
    }

    @Test
    void subnormalsRound() {
        // Smallest float subnormal (bits 1) rounds to +0; 0x00008000 ties to even 0x0000; 0x00018000 -> 0x0002.
        assertEquals((short) 0x0000, bf(fromBits(0x00000001)));
        assertEquals((short) 0x0000, bf(fromBits(0x00008000)));
        assertEquals((short) 0x0002, bf(fromBits(0x00018000)));
    }
}
