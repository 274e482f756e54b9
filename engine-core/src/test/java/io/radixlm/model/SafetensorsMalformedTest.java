package io.radixlm.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every malformed file is refused by open(), with a message naming the file and the problem. */
class SafetensorsMalformedTest {
    @TempDir
    Path dir;

    private Path file(String name, byte[] bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** Bytes of a file: the given header length field, the JSON, then dataBytes zero bytes. */
    private static byte[] raw(long headerLengthField, String json, int dataBytes) {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + j.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLengthField).put(j);
        return b.array();
    }

    private static byte[] raw(String json, int dataBytes) {
        return raw(json.getBytes(StandardCharsets.UTF_8).length, json, dataBytes);
    }

    private void assertRejected(Path p, String expectedFragment) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(expectedFragment), "says '" + expectedFragment + "': " + e.getMessage());
    }

    @Test
    void shorterThanEightBytes() throws Exception {
        assertRejected(file("short", new byte[] {1, 0, 0, 0, 0}), "shorter than the 8-byte header length");
        assertRejected(file("zero", new byte[0]), "shorter than the 8-byte header length");
    }

    @Test
    void headerLengthPastEndOfFile() throws Exception {
        assertRejected(file("past", raw(1000, "{}", 4)), "runs past the end of the file");
    }

    @Test
    void absurdHeaderLength() throws Exception {
        assertRejected(file("huge", raw(1L << 40, "{}", 0)), "absurd");
        assertRejected(file("negative", raw(-8, "{}", 0)), "absurd");
    }

    @Test
    void headerNotAJsonObject() throws Exception {
        assertRejected(file("array", raw("[1, 2]", 0)), "not a JSON object");
        assertRejected(file("broken", raw("{\"x\": ", 0)), "not valid JSON");
        assertRejected(file("empty-header", raw("", 0)), "not a JSON object");
        assertRejected(file("entry", raw("{\"x\": 5}", 0)), "tensor x: entry is not a JSON object");
    }

    @Test
    void unknownDtype() throws Exception {
        assertRejected(file("dtype", raw("{\"x\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2)),
                "unsupported tensor dtype 'Q4_K'");
    }

    @Test
    void shapeDisagreesWithOffsets() throws Exception {
        assertRejected(file("mismatch", raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16)),
                "needs 16");
        assertRejected(file("badshape", raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4)),
                "not a non-negative integer");
        assertRejected(file("reversed", raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8)),
                "bad data_offsets");
        assertRejected(file("threeoffsets", raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8)),
                "data_offsets must have 2 entries");
    }

    @Test
    void offsetsOutOfRange() throws Exception {
        assertRejected(file("range", raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8)),
                "run past the end of the data section (8 bytes)");
    }

    @Test
    void overlappingTensors() throws Exception {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        assertRejected(file("overlap", raw(json, 12)), "tensors a and b overlap");
    }

    @Test
    void duplicateNames() throws Exception {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        assertRejected(file("dup", raw(json, 8)), "duplicate tensor name");
    }

    @Test
    void truncatedFile() throws Exception {
        Path good = dir.resolve("good.safetensors");
        SafetensorsWriter.write(good, List.of(
                new SafetensorsWriter.Tensor("a", DType.F32, new long[] {4}, new float[] {1, 2, 3, 4}),
                new SafetensorsWriter.Tensor("b", DType.BF16, new long[] {4}, new float[] {1, 2, 3, 4})), Map.of());
        byte[] bytes = Files.readAllBytes(good);
        assertRejected(file("truncated", Arrays.copyOf(bytes, bytes.length - 3)), "tensor b: data_offsets [16, 24] run past");
        assertRejected(file("truncated-in-header", Arrays.copyOf(bytes, 20)), "runs past the end of the file");
    }

    @Test
    void badMetadata() throws Exception {
        assertRejected(file("meta", raw("{\"__metadata__\":{\"n\":1}}", 0)), "is not a string");
    }

    @Test
    void missingTensorIsNamed() throws Exception {
        Path p = dir.resolve("ok.safetensors");
        SafetensorsWriter.write(p, List.of(new SafetensorsWriter.Tensor("a", DType.F32, new long[] {1}, new float[] {1})),
                Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.readFloats("model.norm.weight"));
            assertTrue(e.getMessage().contains("no tensor named model.norm.weight"), e.getMessage());
        }
    }

    @Test
    void writerRefusesInconsistentTensors() {
        assertThrows(IllegalArgumentException.class,
                () -> new SafetensorsWriter.Tensor("x", DType.F32, new long[] {2, 2}, new float[3]));
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(dir.resolve("dup"), List.of(
                new SafetensorsWriter.Tensor("x", DType.F32, new long[] {1}, new float[1]),
                new SafetensorsWriter.Tensor("x", DType.F32, new long[] {1}, new float[1])), Map.of()));
    }
}
