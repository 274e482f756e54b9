package io.radixlm.cuda;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The parameter values that cuLaunchKernelEx reads: one 8-byte slot per parameter, holding a value of its width. */
class KernelArgsTest {
    @Test
    void nativeValuesSitInTheirSlotsWithTheirWidths() {
        KernelArgs args = new KernelArgs().ptr(0x7f00_1234_5678L).i32(-7).f32(1.5f).i64(1L << 40).ptr(0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slots = arena.allocate(8L * args.size(), 8);
            slots.fill((byte) 0x55);
            args.writeValues(slots);
            assertEquals(5, args.size());
            assertEquals(0x7f00_1234_5678L, slots.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(-7, slots.get(ValueLayout.JAVA_INT, 8));
            assertEquals(1.5f, slots.get(ValueLayout.JAVA_FLOAT, 16));
            assertEquals(1L << 40, slots.get(ValueLayout.JAVA_LONG, 24));
            assertEquals(0L, slots.get(ValueLayout.JAVA_LONG, 32));
        }
    }
}
