package io.radixlm.engine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The .npy layout as the NumPy format specification (NEP 1) describes it, parsed back by hand. */
class NpyWriterTest {

    @Test
    void headerAndDataFollowTheFormat(@TempDir Path dir) throws IOException {
        float[] data = {1.5f, -2f, 0f, Float.MIN_VALUE, 3.25e7f, -0.0f};
        Path file = dir.resolve("m.npy");
        NpyWriter.write(file, data, 2, 3);
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);

        assertEquals((byte) 0x93, buf.get());
        byte[] name = new byte[5];
        buf.get(name);
        assertEquals("NUMPY", new String(name, StandardCharsets.US_ASCII));
        assertEquals(1, buf.get(), "major version");
        assertEquals(0, buf.get(), "minor version");
        int headerLen = Short.toUnsignedInt(buf.getShort());
        int dataStart = 10 + headerLen;
        assertEquals(0, dataStart % 64, "data starts 64-byte aligned");
        String header = new String(bytes, 10, headerLen, StandardCharsets.US_ASCII);
        assertTrue(header.endsWith("\n"));
        assertEquals("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", header.strip());
        assertEquals(dataStart + data.length * 4, bytes.length);

        buf.position(dataStart);
        for (float expected : data) {
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(buf.getFloat()));
        }
    }

    @Test
    void headerMatchesNumpyForTheShapeOfAStories15mLogitsFile() {
        // numpy.save(np.zeros((7, 32000), '<f4')) writes this 128-byte prefix (dict + 20 growth spaces + pad)
        byte[] header = NpyWriter.header(7, 32000);
        assertEquals(128, header.length);
        String text = new String(header, 10, header.length - 10, StandardCharsets.US_ASCII);
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 32000), }";
        assertTrue(text.startsWith(dict + " ".repeat(20)));
        assertEquals(118, Short.toUnsignedInt(ByteBuffer.wrap(header, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort()));
    }

    @Test
    void bytesEqualWhatNumpySaveWrote(@TempDir Path dir) throws IOException {
        // numpy-3x5.npy: np.save of (np.arange(15, dtype='<f4').reshape(3, 5) * np.float32(-0.375) + np.float32(1e-3))
        byte[] expected;
        try (var in = NpyWriterTest.class.getResourceAsStream("/npy/numpy-3x5.npy")) {
            expected = in.readAllBytes();
        }
        float[] data = new float[15];
        for (int i = 0; i < data.length; i++) data[i] = i * -0.375f + 1e-3f;
        Path file = dir.resolve("ours.npy");
        NpyWriter.write(file, data, 3, 5);
        assertArrayEquals(expected, Files.readAllBytes(file));
    }

    @Test
    void largeMatricesAreWrittenWhole(@TempDir Path dir) throws IOException {
        int rows = 600;
        int cols = 1000;
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) data[i] = i * 0.5f;
        Path file = dir.resolve("big.npy");
        NpyWriter.write(file, data, rows, cols);
        byte[] bytes = Files.readAllBytes(file);
        int dataStart = NpyWriter.header(rows, cols).length;
        ByteBuffer buf = ByteBuffer.wrap(bytes, dataStart, bytes.length - dataStart).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < data.length; i++) assertEquals(data[i], buf.getFloat());
        assertEquals(0, buf.remaining());
    }

    @Test
    void shapeMustHoldTheData(@TempDir Path dir) {
        assertThrows(IllegalArgumentException.class, () -> NpyWriter.write(dir.resolve("x.npy"), new float[5], 2, 3));
    }
}
