package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The pinned, asynchronous metadata copy: what lands in each slice, step after step, and what is refused. */
@Tag("gpu")
class StagedUploadGpuTest {
    @Test
    void eachSliceGetsItsValuesAndLaterCopiesDoNotDisturbEarlierOnes() {
        CudaDevice device = device();
        Random random = new Random(7);
        try (DeviceMemory block = poisoned(device, 4 * 300);
             DeviceMemory copyOfA = poisoned(device, 4 * 100);
             StagedUpload staging = new StagedUpload(device, block)) {
            DeviceMemory a = block.slice(0, 4 * 100);
            DeviceMemory b = block.slice(4 * 128, 4 * 37);
            DeviceMemory c = block.slice(4 * 200, 4 * 100);
            int[] inC = random.ints(100).toArray();
            staging.copy(new DeviceMemory[] {c}, new int[][] {inC});
            for (int step = 0; step < 5; step++) {
                int[] first = random.ints(1 + random.nextInt(100)).toArray();
                int[] second = random.ints(1 + random.nextInt(37)).toArray();
                staging.copy(new DeviceMemory[] {a, b}, new int[][] {first, second});
                device.copy(copyOfA, a, 4L * first.length); // ordered after the upload on the stream
                int[] third = random.ints(first.length).toArray(); // the next step's values, staged at once
                staging.copy(new DeviceMemory[] {a}, new int[][] {third});
                assertArrayEquals(first, copyOfA.toInts(first.length), "step " + step + ": the first copy of a");
                assertArrayEquals(third, a.toInts(third.length), "step " + step + ": the second copy of a");
                assertArrayEquals(second, b.toInts(second.length), "step " + step + ": b");
                assertArrayEquals(inC, c.toInts(100), "step " + step + ": c, past the copies");
            }
            // a and c in one copy: b, between them, gets its last staged values again
            int[] last = random.ints(3).toArray();
            int[] lastOfB = random.ints(37).toArray();
            staging.copy(new DeviceMemory[] {b}, new int[][] {lastOfB});
            staging.copy(new DeviceMemory[] {a, c}, new int[][] {last, last});
            assertArrayEquals(last, c.toInts(3));
            assertArrayEquals(lastOfB, b.toInts(37));
        }
    }

    @Test
    void refusesBuffersItDoesNotStageAndValuesThatDoNotFit() {
        CudaDevice device = device();
        try (DeviceMemory block = poisoned(device, 64); DeviceMemory other = poisoned(device, 16);
             StagedUpload staging = new StagedUpload(device, block)) {
            DeviceMemory a = block.slice(16, 16);
            assertThrows(IllegalArgumentException.class, () -> staging.copy(new DeviceMemory[] {other}, new int[][] {{1}}));
            assertThrows(IllegalArgumentException.class, () -> staging.copy(new DeviceMemory[] {a}, new int[][] {new int[5]}));
            assertThrows(IllegalArgumentException.class, () -> block.slice(60, 8));
            staging.copy(new DeviceMemory[] {a}, new int[][] {{4, 3, 2, 1}});
            assertEquals(4, a.toInts(4)[0]);
            assertEquals(a.address(), block.address() + 16);
        }
    }
}
