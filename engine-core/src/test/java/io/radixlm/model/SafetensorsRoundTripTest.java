package io.radixlm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SafetensorsRoundTripTest {
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    @Test
    void f32ValuesComeBackExactly() throws Exception {
        float[] values = {0f, -0f, 1f, -1.5f, (float) Math.PI, Float.MIN_VALUE, Float.MAX_VALUE, 1e-30f, 123456.789f,
                Float.NEGATIVE_INFINITY};
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(file, List.of(new SafetensorsWriter.Tensor("x", DType.F32, new long[] {2, 5}, values)),
                Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            float[] back = f.readFloats("x");
            for (int i = 0; i < values.length; i++) {
                assertEquals(Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits(back[i]), "element " + i);
            }
            assertArrayEquals(new long[] {2, 5}, f.tensors().get("x").shape());
        }
    }

    @Test
    void bf16StoresRoundedBitPatterns() throws Exception {
        // Inputs and the bf16 bits worked out by hand (round to nearest, ties to even).
        float[] values = {1.0f, Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000),
                Float.intBitsToFloat(0x3F808001), (float) Math.PI, -2.0f};
        short[] expectedBits = {0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x4049, (short) 0xC000};
        Path file = dir.resolve("b.safetensors");
        SafetensorsWriter.write(file, List.of(new SafetensorsWriter.Tensor("w", DType.BF16, new long[] {6}, values)),
                Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            var seg = f.segment("w");
            assertEquals(12, seg.byteSize());
            for (int i = 0; i < expectedBits.length; i++) {
                assertEquals(expectedBits[i], seg.get(I16_LE, 2L * i), "bits of element " + i);
            }
            float[] back = f.readFloats("w");
            assertArrayEquals(new float[] {1.0f, 1.0f, 1.015625f, 1.0078125f, 3.140625f, -2.0f}, back);
        }
    }

    @Test
    void f16StoresIeeeHalfBits() throws Exception {
        // 1 + 2^-11 lies halfway between 1.0 (0x3C00) and the next half (0x3C01): ties to even -> 0x3C00.
        float[] values = {1.0f, 0.5f, -2.0f, 65504f, 1f + 1f / 2048f, 1e-8f};
        short[] expectedBits = {0x3C00, 0x3800, (short) 0xC000, 0x7BFF, 0x3C00, 0x0000};
        Path file = dir.resolve("c.safetensors");
        SafetensorsWriter.write(file, List.of(new SafetensorsWriter.Tensor("h", DType.F16, new long[] {3, 2}, values)),
                Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (int i = 0; i < expectedBits.length; i++) {
                assertEquals(expectedBits[i], f.segment("h").get(I16_LE, 2L * i), "bits of element " + i);
            }
            assertArrayEquals(new float[] {1.0f, 0.5f, -2.0f, 65504f, 1.0f, 0f}, f.readFloats("h"));
        }
    }

    @Test
    void layoutFollowsTheFormat() throws Exception {
        Path file = dir.resolve("d.safetensors");
        SafetensorsWriter.write(file, List.of(
                new SafetensorsWriter.Tensor("first", DType.F16, new long[] {3}, new float[] {1, 2, 3}),
                new SafetensorsWriter.Tensor("second", DType.F32, new long[] {1, 2}, new float[] {4, 5}),
                new SafetensorsWriter.Tensor("empty", DType.BF16, new long[] {0, 4}, new float[0])),
                Map.of("format", "pt"));
        byte[] bytes = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLength % 8, "header padded to 8 bytes");
        assertEquals(8 + headerLength + 6 + 8, bytes.length);
        JsonNode header = new ObjectMapper().readTree(new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8));
        assertEquals("pt", header.get("__metadata__").get("format").asText());
        assertEquals("[0,6]", header.get("first").get("data_offsets").toString());
        assertEquals("[6,14]", header.get("second").get("data_offsets").toString());
        assertEquals("F32", header.get("second").get("dtype").asText());
        // F32 4.0f little endian right after the F16 tensor.
        int secondStart = (int) (8 + headerLength + 6);
        assertEquals(4.0f, ByteBuffer.wrap(bytes, secondStart, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("first", "second", "empty"), List.copyOf(f.tensors().keySet()));
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertArrayEquals(new float[] {4, 5}, f.readFloats("second"));
            assertArrayEquals(new float[0], f.readFloats("empty"));
        }
    }

    @Test
    void largeTensorCrossesConversionChunks() throws Exception {
        int n = 200_003; // more than the writer's and reader's 65536-element chunks, not a multiple of them
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = i % 256; // integers below 256 are exact in bf16
        Path file = dir.resolve("e.safetensors");
        SafetensorsWriter.write(file, List.of(new SafetensorsWriter.Tensor("big", DType.BF16, new long[] {n}, values)),
                Map.of());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(values, f.readFloats("big"));
        }
    }
}
