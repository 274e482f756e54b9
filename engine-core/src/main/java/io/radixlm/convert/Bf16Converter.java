package io.radixlm.convert;

import io.radixlm.model.DType;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.model.SafetensorsWriter;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Rewrites a model directory with its tensors in bf16 (round to nearest even): half the size of a
 * float32 checkpoint and exactly what the CUDA backend uploads. The other files (config, tokenizer,
 * chat template) are copied as they are. Holds the whole model in memory while writing.
 */
public final class Bf16Converter {
    private Bf16Converter() { }

    public static void convert(Path modelDir, Path outDir, Consumer<String> progress) throws IOException {
        if (Files.exists(outDir.resolve("model.safetensors"))) {
            throw new IllegalArgumentException("output directory already holds a model: " + outDir);
        }
        Files.createDirectories(outDir);
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        try (SafetensorsWeights weights = SafetensorsWeights.open(modelDir)) {
            for (String name : weights.names()) {
                tensors.add(new SafetensorsWriter.Tensor(name, DType.BF16, weights.shape(name), weights.readFloats(name)));
            }
        }
        progress.accept("writing " + tensors.size() + " tensors in bf16 to " + outDir);
        SafetensorsWriter.write(outDir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
        try (DirectoryStream<Path> files = Files.newDirectoryStream(modelDir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                boolean isWeights = name.endsWith(".safetensors") || name.equals("model.safetensors.index.json");
                if (Files.isRegularFile(file) && !isWeights && !name.startsWith(".")) {
                    Files.copy(file, outDir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
