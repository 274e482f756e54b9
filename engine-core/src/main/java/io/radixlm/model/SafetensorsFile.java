package io.radixlm.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file mapped into memory: an 8-byte little-endian header length, a JSON header, then
 * raw tensor bytes. {@link #open} validates the whole header against the file size before returning,
 * so no tensor is ever read from a file that lies about its layout. Closing unmaps the file; segments
 * handed out before become unusable.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The reference implementation refuses headers above 100 MB; a larger one means a corrupt length. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final String METADATA_KEY = "__metadata__";
    private static final int CHUNK = 1 << 16;
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final Arena arena;
    private final MemorySegment data; // the data section: bytes after the header
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path file, Arena arena, MemorySegment data,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.data = data;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /** Maps and validates {@code file}; any inconsistency is a ModelFormatException naming the file. */
    public static SafetensorsFile open(Path file) {
        Arena arena = Arena.ofShared(); // shared: backends read weights from several threads
        try {
            MemorySegment whole;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 8) throw fail(file, "file is " + size + " bytes, shorter than the 8-byte header length");
                whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            long headerLength = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            long available = whole.byteSize() - 8;
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw fail(file, "header length " + headerLength + " is absurd (limit " + MAX_HEADER_BYTES + " bytes)");
            }
            if (headerLength > available) {
                throw fail(file, "header length " + headerLength + " runs past the end of the file ("
                        + available + " bytes after the length field)");
            }
            byte[] header = whole.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = whole.asSlice(8 + headerLength);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(file, header, metadata);
            checkRanges(file, tensors.values(), data.byteSize());
            return new SafetensorsFile(file, arena, data, tensors, metadata);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path file, byte[] header, Map<String, String> metadata) {
        JsonNode root;
        try {
            ObjectMapper mapper = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
            root = mapper.readTree(header);
        } catch (JsonProcessingException e) {
            String why = e.getOriginalMessage();
            if (why != null && why.startsWith("Duplicate field")) throw fail(file, "duplicate tensor name in header: " + why);
            throw fail(file, "header is not valid JSON: " + why);
        } catch (IOException e) {
            throw fail(file, "header is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw fail(file, "header is not a JSON object");
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (var field : root.properties()) {
            if (field.getKey().equals(METADATA_KEY)) {
                parseMetadata(file, field.getValue(), metadata);
            } else {
                tensors.put(field.getKey(), parseTensor(file, field.getKey(), field.getValue()));
            }
        }
        return tensors;
    }

    private static void parseMetadata(Path file, JsonNode node, Map<String, String> metadata) {
        if (!node.isObject()) throw fail(file, "__metadata__ is not a JSON object");
        for (var entry : node.properties()) {
            if (!entry.getValue().isTextual()) throw fail(file, "__metadata__ value for '" + entry.getKey() + "' is not a string");
            metadata.put(entry.getKey(), entry.getValue().asText());
        }
    }

    private static TensorInfo parseTensor(Path file, String name, JsonNode node) {
        if (!node.isObject()) throw fail(file, "tensor " + name + ": entry is not a JSON object");
        JsonNode dtype = node.get("dtype");
        if (dtype == null || !dtype.isTextual()) throw fail(file, "tensor " + name + ": missing dtype");
        long[] shape = longArray(file, name, node.get("shape"), "shape", -1);
        long[] offsets = longArray(file, name, node.get("data_offsets"), "data_offsets", 2);
        try {
            return new TensorInfo(name, DType.fromSafetensors(dtype.asText()), shape, offsets[0], offsets[1]);
        } catch (ModelFormatException e) {
            String msg = e.getMessage().startsWith("tensor ") ? e.getMessage() : "tensor " + name + ": " + e.getMessage();
            throw fail(file, msg);
        }
    }

    private static long[] longArray(Path file, String name, JsonNode node, String what, int requiredLength) {
        if (node == null || !node.isArray()) throw fail(file, "tensor " + name + ": missing " + what + " array");
        if (requiredLength >= 0 && node.size() != requiredLength) {
            throw fail(file, "tensor " + name + ": " + what + " must have " + requiredLength + " entries, has " + node.size());
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
                throw fail(file, "tensor " + name + ": " + what + " entry " + v + " is not a non-negative integer");
            }
            out[i] = v.asLong();
        }
        return out;
    }

    /** Every tensor inside the data section, and no two tensors sharing a byte. */
    private static void checkRanges(Path file, Iterable<TensorInfo> infos, long dataSize) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : infos) {
            if (t.dataEnd() > dataSize) {
                throw fail(file, "tensor " + t.name() + ": data_offsets [" + t.dataStart() + ", " + t.dataEnd()
                        + "] run past the end of the data section (" + dataSize + " bytes)");
            }
            sorted.add(t);
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::dataStart).thenComparingLong(TensorInfo::dataEnd));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo prev = sorted.get(i - 1);
            TensorInfo cur = sorted.get(i);
            if (cur.dataStart() < prev.dataEnd()) {
                throw fail(file, "tensors " + prev.name() + " and " + cur.name() + " overlap (bytes ["
                        + cur.dataStart() + ", " + Math.min(prev.dataEnd(), cur.dataEnd()) + ") of the data section)");
            }
        }
    }

    private static ModelFormatException fail(Path file, String problem) {
        return new ModelFormatException(file + ": " + problem);
    }

    public Path file() { return file; }

    /** Every tensor, in header order. */
    public Map<String, TensorInfo> tensors() { return tensors; }

    /** The header's __metadata__ (string to string); empty when absent. */
    public Map<String, String> metadata() { return metadata; }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw fail(file, "no tensor named " + name);
        return t;
    }

    /** The tensor's raw bytes (little endian, the file's dtype), a view into the mapping. */
    public MemorySegment segment(String name) {
        TensorInfo t = info(name);
        return data.asSlice(t.dataStart(), t.numBytes());
    }

    /** The tensor converted to float32, row-major. */
    public float[] readFloats(String name) {
        TensorInfo t = info(name);
        if (t.numElements() > Integer.MAX_VALUE - 8) {
            throw fail(file, "tensor " + name + " has " + t.numElements() + " elements, too many for one float[]");
        }
        MemorySegment src = segment(name);
        float[] out = new float[(int) t.numElements()];
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(src, F32_LE, 0, out, 0, out.length);
            case BF16, F16 -> readHalves(src, t.dtype(), out);
        }
        return out;
    }

    /** Copies 16-bit values in chunks so a large tensor needs no full-size short[] beside the result. */
    private static void readHalves(MemorySegment src, DType dtype, float[] out) {
        short[] buf = new short[Math.min(CHUNK, out.length)];
        for (int start = 0; start < out.length; start += CHUNK) {
            int n = Math.min(CHUNK, out.length - start);
            MemorySegment.copy(src, I16_LE, 2L * start, buf, 0, n);
            for (int i = 0; i < n; i++) {
                out[start + i] = dtype == DType.BF16 ? BFloat16.toFloat(buf[i]) : Float.float16ToFloat(buf[i]);
            }
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
