package io.radixlm.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A float32 array read from a NumPy .npy file (format versions 1-3, little-endian '<f4', C order),
 * the format the golden logits are stored in.
 *
 * @param shape dimensions, outermost first (e.g. [positions, vocab])
 * @param data  all elements in C (row-major) order
 */
public record NpyArray(int[] shape, float[] data) {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    public NpyArray {
        long numElements = 1;
        for (int dim : shape) {
            if (dim < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            numElements *= dim;
        }
        if (numElements != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + numElements
                    + " elements, data has " + data.length);
        }
    }

    /** Reads a .npy file; anything but little-endian float32 in C order is rejected. */
    public static NpyArray read(Path file) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[MAGIC.length];
        if (bytes.remaining() < MAGIC.length + 4) throw new IOException(file + ": too short for .npy");
        bytes.get(magic);
        if (!Arrays.equals(magic, MAGIC)) throw new IOException(file + ": not a .npy file (bad magic)");
        int major = bytes.get() & 0xff;
        bytes.get(); // minor version: no effect on the layout
        long headerLength = switch (major) {
            case 1 -> bytes.getShort() & 0xffff;
            case 2, 3 -> bytes.getInt() & 0xffffffffL;
            default -> throw new IOException(file + ": unsupported .npy version " + major);
        };
        if (headerLength > bytes.remaining()) throw new IOException(file + ": header runs past the end");
        byte[] headerBytes = new byte[(int) headerLength];
        bytes.get(headerBytes);
        // Version 3 allows UTF-8 in the header; the fields we read are ASCII either way.
        String header = new String(headerBytes, StandardCharsets.UTF_8);
        String descr = field(DESCR, header, file);
        if (!descr.equals("<f4")) throw new IOException(file + ": dtype " + descr + ", expected <f4 (float32)");
        if (field(FORTRAN, header, file).equals("True")) throw new IOException(file + ": Fortran order not supported");
        int[] shape = parseShape(field(SHAPE, header, file), file);
        long numElements = 1;
        for (int dim : shape) numElements *= dim;
        if (numElements * Float.BYTES != bytes.remaining()) {
            throw new IOException(file + ": shape " + Arrays.toString(shape) + " needs " + numElements * Float.BYTES
                    + " data bytes, file has " + bytes.remaining());
        }
        float[] data = new float[(int) numElements];
        bytes.asFloatBuffer().get(data);
        return new NpyArray(shape, data);
    }

    /** Number of rows of a 2-D array. */
    public int rows() {
        requireRank(2);
        return shape[0];
    }

    /** Number of columns of a 2-D array. */
    public int cols() {
        requireRank(2);
        return shape[1];
    }

    /** Element [row, col] of a 2-D array. */
    public float get(int row, int col) {
        requireRank(2);
        if (row < 0 || row >= shape[0] || col < 0 || col >= shape[1]) {
            throw new IndexOutOfBoundsException("[" + row + ", " + col + "] outside " + Arrays.toString(shape));
        }
        return data[row * shape[1] + col];
    }

    /** A copy of one row of a 2-D array (e.g. the logits of one position). */
    public float[] row(int row) {
        requireRank(2);
        return Arrays.copyOfRange(data, row * shape[1], (row + 1) * shape[1]);
    }

    private void requireRank(int rank) {
        if (shape.length != rank) throw new IllegalStateException("array has shape " + Arrays.toString(shape));
    }

    private static String field(Pattern pattern, String header, Path file) throws IOException {
        Matcher m = pattern.matcher(header);
        if (!m.find()) throw new IOException(file + ": header lacks " + pattern.pattern() + ": " + header);
        return m.group(1);
    }

    private static int[] parseShape(String tuple, Path file) throws IOException {
        String[] parts = tuple.split(",");
        return Arrays.stream(parts).map(String::strip).filter(s -> !s.isEmpty()).mapToInt(s -> {
            try {
                return Integer.parseInt(s.endsWith("L") ? s.substring(0, s.length() - 1) : s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(file + ": bad shape (" + tuple + ")", e);
            }
        }).toArray();
    }
}
