package io.radixlm.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes the safetensors format: an 8-byte little-endian header length, a JSON header (padded with
 * spaces to a multiple of 8 so that tensor data stays aligned), then the tensors' bytes back to back
 * in list order.
 */
public final class SafetensorsWriter {
    private static final int CHUNK_FLOATS = 1 << 16;

    private SafetensorsWriter() {}

    /**
     * One tensor to write: float32 values that the writer converts to {@code dtype}.
     *
     * @param shape row-major dimensions; their product must equal data.length
     */
    public record Tensor(String name, DType dtype, long[] shape, float[] data) {
        public Tensor {
            if (name == null || name.isEmpty()) throw new IllegalArgumentException("tensor name is empty");
            if (name.equals("__metadata__")) throw new IllegalArgumentException("tensor name '__metadata__' is reserved");
            if (dtype == null) throw new IllegalArgumentException("tensor " + name + ": dtype is null");
            shape = shape.clone();
            long numElements = 1;
            for (long d : shape) {
                if (d < 0) throw new IllegalArgumentException("tensor " + name + ": negative dimension " + d);
                numElements = Math.multiplyExact(numElements, d);
            }
            if (numElements != data.length) {
                throw new IllegalArgumentException("tensor " + name + ": shape holds " + numElements
                        + " elements but data has " + data.length);
            }
        }

        long numBytes() { return (long) data.length * dtype.byteSize(); }
    }

    public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata) throws IOException {
        byte[] header = header(tensors, metadata);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer prefix = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            prefix.putLong(header.length).put(header).flip();
            writeFully(ch, prefix);
            ByteBuffer buf = ByteBuffer.allocate(CHUNK_FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (Tensor t : tensors) {
                writeData(ch, t, buf);
            }
        }
    }

    /** The JSON header, "__metadata__" first, then tensors in list order, space-padded to a multiple of 8. */
    private static byte[] header(List<Tensor> tensors, Map<String, String> metadata) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (Tensor t : tensors) {
            if (!seen.add(t.name())) throw new IllegalArgumentException("duplicate tensor name " + t.name());
            ObjectNode entry = root.putObject(t.name());
            entry.put("dtype", t.dtype().safetensorsName());
            var shape = entry.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            var offsets = entry.putArray("data_offsets");
            offsets.add(offset);
            offset += t.numBytes();
            offsets.add(offset);
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) out[i] = ' ';
        return out;
    }

    /** Converts and writes in chunks so a large tensor never needs a second full-size copy. */
    private static void writeData(FileChannel ch, Tensor t, ByteBuffer buf) throws IOException {
        float[] data = t.data();
        for (int start = 0; start < data.length; start += CHUNK_FLOATS) {
            int end = Math.min(data.length, start + CHUNK_FLOATS);
            buf.clear();
            for (int i = start; i < end; i++) {
                switch (t.dtype()) {
                    case F32 -> buf.putFloat(data[i]);
                    case F16 -> buf.putShort(Float.floatToFloat16(data[i]));
                    case BF16 -> buf.putShort(BFloat16.fromFloat(data[i]));
                }
            }
            buf.flip();
            writeFully(ch, buf);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }
}
