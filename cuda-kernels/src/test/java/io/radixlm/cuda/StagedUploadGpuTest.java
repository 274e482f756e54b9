package io.radixlm.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The pinned, asynchronous metadata copies: what lands in each buffer, step after step, and what is refused. */
@Tag("gpu")
class StagedUploadGpuTest {
    @Test
    void eachBufferGetsItsValuesAndLaterCopiesDoNotDisturbEarlierOnes() {
        CudaDevice device = device();
        Random random = new Random(7);
        try (DeviceMemory a = poisoned(device, 4 * 100); DeviceMemory b = poisoned(device, 4 * 37);
             DeviceMemory copyOfA = poisoned(device, 4 * 100);
             StagedUpload staging = new StagedUpload(device, List.of(a, b))) {
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
            }
        }
    }

    @Test
    void refusesBuffersItDoesNotStageAndValuesThatDoNotFit() {
        CudaDevice device = device();
        try (DeviceMemory a = poisoned(device, 16); DeviceMemory other = poisoned(device, 16);
             StagedUpload staging = new StagedUpload(device, List.of(a))) {
            assertThrows(IllegalArgumentException.class, () -> staging.copy(new DeviceMemory[] {other}, new int[][] {{1}}));
            assertThrows(IllegalArgumentException.class, () -> staging.copy(new DeviceMemory[] {a}, new int[][] {new int[5]}));
            staging.copy(new DeviceMemory[] {a}, new int[][] {{4, 3, 2, 1}});
            assertEquals(4, a.toInts(4)[0]);
        }
    }
}
