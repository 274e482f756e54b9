package io.radixlm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The weights of a Hugging Face model directory: model.safetensors, or the shards that
 * model.safetensors.index.json's weight_map names. Every file is mapped and validated on open.
 */
public final class SafetensorsWeights implements WeightSource {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Map<String, SafetensorsFile> fileByTensor;
    private final Map<String, SafetensorsFile> files; // by file name, each opened once

    private SafetensorsWeights(Map<String, SafetensorsFile> fileByTensor, Map<String, SafetensorsFile> files) {
        this.fileByTensor = fileByTensor;
        this.files = files;
    }

    public static SafetensorsWeights open(Path modelDir) {
        Path single = modelDir.resolve(SINGLE_FILE);
        Path index = modelDir.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) return openSharded(modelDir, index);
        if (Files.isRegularFile(single)) {
            SafetensorsFile file = SafetensorsFile.open(single);
            Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
            file.tensors().keySet().forEach(name -> byTensor.put(name, file));
            return new SafetensorsWeights(byTensor, Map.of(SINGLE_FILE, file));
        }
        throw new ModelFormatException(modelDir + ": no " + SINGLE_FILE + " or " + INDEX_FILE);
    }

    private static SafetensorsWeights openSharded(Path modelDir, Path index) {
        Map<String, String> weightMap = readWeightMap(index);
        Map<String, SafetensorsFile> files = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            for (var entry : weightMap.entrySet()) {
                SafetensorsFile shard = files.get(entry.getValue());
                if (shard == null) {
                    shard = SafetensorsFile.open(shardPath(modelDir, index, entry.getValue()));
                    files.put(entry.getValue(), shard);
                }
                if (!shard.tensors().containsKey(entry.getKey())) {
                    throw new ModelFormatException(index + ": weight_map puts " + entry.getKey() + " in "
                            + entry.getValue() + ", which has no such tensor");
                }
                byTensor.put(entry.getKey(), shard);
            }
        } catch (RuntimeException e) {
            files.values().forEach(SafetensorsFile::close);
            throw e;
        }
        return new SafetensorsWeights(byTensor, files);
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(index + ": not valid JSON: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new ModelFormatException(index + ": no weight_map object");
        Map<String, String> out = new LinkedHashMap<>();
        for (var e : map.properties()) {
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(index + ": weight_map entry for " + e.getKey() + " is not a file name");
            }
            out.put(e.getKey(), e.getValue().asText());
        }
        if (out.isEmpty()) throw new ModelFormatException(index + ": weight_map is empty");
        return out;
    }

    /** A shard must be a file inside the model directory; an index naming ../x is refused. */
    private static Path shardPath(Path modelDir, Path index, String name) {
        Path dir = modelDir.toAbsolutePath().normalize();
        Path shard = dir.resolve(name).normalize();
        if (!shard.getParent().equals(dir)) {
            throw new ModelFormatException(index + ": shard '" + name + "' is not a file in " + modelDir);
        }
        if (!Files.isRegularFile(shard)) throw new ModelFormatException(index + ": shard " + name + " does not exist");
        return shard;
    }

    /** Tensor names, in file (or weight_map) order. */
    public Set<String> names() { return Collections.unmodifiableSet(fileByTensor.keySet()); }

    public TensorInfo info(String name) { return file(name).info(name); }

    /** The tensor's raw little-endian bytes, a view into the mapping (valid until close). */
    public MemorySegment segment(String name) { return file(name).segment(name); }

    @Override
    public boolean contains(String name) { return fileByTensor.containsKey(name); }

    @Override
    public long[] shape(String name) { return info(name).shape(); }

    @Override
    public DType dtype(String name) { return info(name).dtype(); }

    @Override
    public float[] readFloats(String name) { return file(name).readFloats(name); }

    private SafetensorsFile file(String name) {
        SafetensorsFile f = fileByTensor.get(name);
        if (f == null) throw new ModelFormatException("model has no tensor named " + name);
        return f;
    }

    @Override
    public void close() {
        files.values().forEach(SafetensorsFile::close);
    }
}
