package io.radixlm.cuda;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.ForwardBatchBuilder;
import io.radixlm.engine.Backends.BackendUnavailableException;
import io.radixlm.engine.LoadedModel;
import io.radixlm.testing.Golden;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What runs on CI (no GPU): the host-side logic of the CUDA backend and its behaviour without a GPU. */
class WithoutGpuTest {

    @Test
    void bf16RoundsToNearestEvenLikePyTorch() {
        assertEquals((short) 0x3f80, Bf16.fromFloat(1.0f));
        assertEquals((short) 0x3f80, Bf16.fromFloat(Float.intBitsToFloat(0x3f808000))); // tie → even (down)
        assertEquals((short) 0x3f82, Bf16.fromFloat(Float.intBitsToFloat(0x3f818000))); // tie → even (up)
        assertEquals((short) 0x3f81, Bf16.fromFloat(Float.intBitsToFloat(0x3f808001))); // above the tie → up
        assertEquals((short) 0xc000, Bf16.fromFloat(-2.0f));
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Bf16.toFloat(Bf16.fromFloat(Float.POSITIVE_INFINITY)));
        assertEquals(3.140625f, Bf16.round((float) Math.PI));
    }

    @Test
    void decodeBatchesGoToThePowerOfTwoBucketAndOthersRunEagerly() {
        assertEquals(1, DecodeGraphs.bucketFor(decode(1)));
        assertEquals(4, DecodeGraphs.bucketFor(decode(3)));
        assertEquals(32, DecodeGraphs.bucketFor(decode(32)));
        assertEquals(64, DecodeGraphs.bucketFor(decode(33)));
        assertEquals(128, DecodeGraphs.bucketFor(decode(65)));
        assertEquals(256, DecodeGraphs.bucketFor(decode(256)));
        assertEquals(0, DecodeGraphs.bucketFor(decode(257)));
        ForwardBatch prefill = new ForwardBatch(new int[] {5, 6}, new int[] {0, 1}, new int[] {0, 1}, new int[] {0, 2},
                new int[] {2}, new int[][] {{0}}, new int[] {1});
        assertEquals(0, DecodeGraphs.bucketFor(prefill));
    }

    @Test
    void decodeGraphsTellShortContextsFromLongOnes() {
        int most = PagedAttentionKernel.CLUSTER_MAX_KEYS;  // keys = position + 1
        int[][] pages = {ForwardBatchBuilder.consecutivePages(0, most / 16 + 1), ForwardBatchBuilder.consecutivePages(200, most / 16 + 1)};
        assertTrue(DecodeGraphs.shortContext(ForwardBatchBuilder.decode(new int[] {1, 2}, new int[] {0, most - 1}, pages, 16)));
        assertFalse(DecodeGraphs.shortContext(ForwardBatchBuilder.decode(new int[] {1, 2}, new int[] {0, most}, pages, 16)));
        assertFalse(DecodeGraphs.shortContext(ForwardBatchBuilder.decode(new int[] {1, 2}, new int[] {most, 3}, pages, 16)));
    }

    @Test
    void paddedDecodeRowsTouchOnlyTheScratchPage() {
        ForwardBatch batch = decode(3);
        StepMetadata padded = StepMetadata.paddedDecode(batch, 4, 99, 16, 5);
        assertArrayEquals(new int[] {7, 7, 7, 0}, padded.tokenIds());
        assertArrayEquals(new int[] {batch.slotMapping()[0], batch.slotMapping()[1], batch.slotMapping()[2], 99 * 16},
                padded.slotMapping());
        assertArrayEquals(new int[] {0, 1, 2, 3}, padded.tokenSeq());
        assertArrayEquals(new int[] {0, 1, 2, 3}, padded.logitRows());
        assertEquals(99, padded.blockTables()[3 * 5]);
        assertEquals(0, padded.positions()[3]);
        assertEquals(batch.blockTables()[2][1], padded.blockTables()[2 * 5 + 1]);
    }

    @Test
    void blockTableRowsAreTheNextPowerOfTwoOfTheLongestSequenceAtMostTheBuffersWidth() {
        assertEquals(16, StepMetadata.tableStride(1, 8192));
        assertEquals(16, StepMetadata.tableStride(16, 8192));
        assertEquals(32, StepMetadata.tableStride(17, 8192));
        assertEquals(64, StepMetadata.tableStride(64, 8192));  // a 1k-token context at pages of 16
        assertEquals(128, StepMetadata.tableStride(65, 8192));
        assertEquals(8192, StepMetadata.tableStride(4097, 8192));
        assertEquals(5, StepMetadata.tableStride(3, 5));  // buffers narrower than the floor
        assertEquals(100, StepMetadata.tableStride(70, 100));
        assertThrows(IllegalArgumentException.class, () -> StepMetadata.tableStride(101, 100));
    }

    @Test
    void aStepUploadsItsBlockTablesAtItsOwnWidth() {
        ForwardBatch batch = decode(3);  // 2 pages a sequence
        int stride = StepMetadata.tableStride(2, 8192);
        StepMetadata padded = StepMetadata.paddedDecode(batch, 4, 99, 16, stride);
        assertEquals(4 * 16, padded.blockTables().length, "4 rows of 16 pages, not of the buffers' 8,192");
        for (int s = 0; s < 3; s++) {
            int[] row = java.util.Arrays.copyOfRange(padded.blockTables(), s * stride, (s + 1) * stride);
            assertArrayEquals(batch.blockTables()[s], java.util.Arrays.copyOf(row, batch.blockTables()[s].length));
        }
        assertEquals(99, padded.blockTables()[3 * stride]);
        StepMetadata eager = StepMetadata.of(batch, stride, 1, true);
        assertEquals(stride, eager.tableStride());
        assertEquals(3 * stride, eager.blockTables().length);
        assertEquals(batch.blockTables()[1][1], eager.blockTables()[stride + 1]);
    }

    @Test
    void cudaBackendIsAClearUserErrorAndAutoFallsBackToTheCpu() {
        Assumptions.assumeFalse(gpuUsable(), "this machine has a usable GPU: the no-GPU path cannot be checked here");
        try (LoadedModel model = LoadedModel.load(Golden.modelDir("llama3_gqa"), message -> { })) {
            var error = assertThrows(BackendUnavailableException.class,
                    () -> BackendChooser.create("cuda", model, 0.9, message -> { }));
            assertTrue(error.getMessage().startsWith("the CUDA backend cannot run here: "), error.getMessage());
            assertFalse(error.getMessage().contains("\n"), "one line: " + error.getMessage());
            List<String> log = new ArrayList<>();
            try (Backend backend = BackendChooser.create("auto", model, 0.9, log::add)) {
                assertEquals("cpu", backend.name());
            }
            assertTrue(log.getFirst().startsWith("no usable GPU ("), log.toString());
        }
    }

    private static boolean gpuUsable() {
        try (CudaDevice device = CudaDevice.open()) {
            return device != null;
        } catch (CudaUnavailableException | LinkageError e) {
            return false;
        }
    }

    /** n sequences decoding token 7 at position 20 + s, two pages each. */
    private static ForwardBatch decode(int n) {
        int[] tokens = new int[n];
        int[] positions = new int[n];
        int[][] tables = new int[n][];
        for (int s = 0; s < n; s++) {
            tokens[s] = 7;
            positions[s] = 20 + s % 10;
            tables[s] = new int[] {2 * s, 2 * s + 1};
        }
        return ForwardBatchBuilder.decode(tokens, positions, tables, 16);
    }
}
