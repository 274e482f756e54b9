package io.radixlm.convert;

import io.radixlm.model.BFloat16;
import io.radixlm.model.DType;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.model.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class Bf16ConverterTest {

    @Test
    void tensorsBecomeBf16RoundedToNearestEvenAndOtherFilesAreCopied(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("in");
        Files.createDirectories(in);
        Random random = new Random(5);
        float[] a = new float[6 * 7];
        for (int i = 0; i < a.length; i++) a[i] = (float) random.nextGaussian();
        float[] b = {1.0f, 1.00390625f, 1.01171875f, -3.5e-3f};   // ties at bf16's last bit go to even
        SafetensorsWriter.write(in.resolve("model.safetensors"), List.of(
                new SafetensorsWriter.Tensor("a", DType.F32, new long[] {6, 7}, a),
                new SafetensorsWriter.Tensor("b", DType.F16, new long[] {4}, b)), Map.of());
        Files.writeString(in.resolve("config.json"), "{\"model_type\": \"llama\"}");
        Path out = dir.resolve("out");
        Bf16Converter.convert(in, out, message -> { });
        try (SafetensorsWeights w = SafetensorsWeights.open(out)) {
            assertEquals(DType.BF16, w.dtype("a"));
            assertArrayEquals(new long[] {6, 7}, w.shape("a"));
            float[] expected = new float[a.length];
            for (int i = 0; i < a.length; i++) expected[i] = BFloat16.toFloat(BFloat16.fromFloat(a[i]));
            assertArrayEquals(expected, w.readFloats("a"));
            assertEquals(1.0f, w.readFloats("b")[1], "1 + 2^-8 is a tie between 1 and 1 + 2^-7: even wins");
        }
        assertEquals("{\"model_type\": \"llama\"}", Files.readString(out.resolve("config.json")));
        assertThrows(IllegalArgumentException.class, () -> Bf16Converter.convert(in, out, message -> { }));
    }
}
