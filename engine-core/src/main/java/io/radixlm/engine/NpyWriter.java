package io.radixlm.engine;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a float32 matrix as a NumPy .npy file (format 1.0), byte for byte as numpy.save writes it:
 * magic "\x93NUMPY", version 1.0, a little-endian uint16 header length, the header dict
 * {@code {'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }}, the spare spaces numpy
 * leaves so the first axis can grow in place, then spaces and a newline up to a multiple of 64 bytes;
 * then the data, row-major, little endian.
 */
public final class NpyWriter {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    private static final int ARRAY_ALIGN = 64;
    /** numpy's GROWTH_AXIS_MAX_DIGITS: room for the first dimension to be rewritten with up to 21 digits. */
    private static final int GROWTH_AXIS_MAX_DIGITS = 21;
    private static final int ROWS_PER_CHUNK = 256;

    private NpyWriter() { }

    /** Writes data, a (rows, cols) row-major matrix, to file (replacing it). */
    public static void write(Path file, float[] data, int rows, int cols) throws IOException {
        if (rows < 0 || cols < 0 || (long) rows * cols != data.length) {
            throw new IllegalArgumentException("shape (" + rows + ", " + cols + ") does not hold "
                    + data.length + " values");
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(header(rows, cols));
            writeData(out, data, cols);
        }
    }

    /** The magic, version, header length and padded header of a (rows, cols) float32 array. */
    static byte[] header(int rows, int cols) {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        dict += " ".repeat(GROWTH_AXIS_MAX_DIGITS - Integer.toString(rows).length());
        int unpadded = MAGIC.length + 2 + dict.length() + 1; // + 1 for the final newline
        int numPad = ARRAY_ALIGN - unpadded % ARRAY_ALIGN; // as numpy: 1..64, never 0
        String text = dict + " ".repeat(numPad) + "\n";
        ByteBuffer header = ByteBuffer.allocate(MAGIC.length + 2 + text.length()).order(ByteOrder.LITTLE_ENDIAN);
        header.put(MAGIC).putShort((short) text.length()).put(text.getBytes(StandardCharsets.US_ASCII));
        return header.array();
    }

    private static void writeData(OutputStream out, float[] data, int cols) throws IOException {
        int chunkFloats = Math.max(1, cols) * ROWS_PER_CHUNK;
        ByteBuffer chunk = ByteBuffer.allocate(chunkFloats * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int start = 0; start < data.length; start += chunkFloats) {
            int n = Math.min(chunkFloats, data.length - start);
            chunk.clear();
            chunk.asFloatBuffer().put(data, start, n);
            out.write(chunk.array(), 0, n * Float.BYTES);
        }
    }
}
