package io.radixlm.backend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One golden fixture model (test resources golden/models/NAME, made by HF transformers): its directory,
 * the reference sequences with their float32 logits, and the greedy continuation.
 */
record GoldenModel(String name, Path dir, List<Sequence> sequences, int[] greedyPrompt, int[] greedyTokens) {

    /** Token ids and the reference logits of every position: (ids.length, vocab). */
    record Sequence(int[] ids, float[] logits) { }

    static final List<String> NAMES = List.of("llama3_gqa", "qwen2_bias", "qwen3_qknorm", "mistral_mha");

    static GoldenModel load(String name) {
        Path dir = resourceDir("golden/models/" + name);
        try {
            JsonNode ref = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
            List<Sequence> sequences = new ArrayList<>();
            for (JsonNode s : ref.get("sequences")) {
                int[] ids = ints(s.get("ids"));
                float[] logits = readNpyFloat32(dir.resolve(s.get("logits").asText()), ids.length);
                sequences.add(new Sequence(ids, logits));
            }
            JsonNode greedy = ref.get("greedy");
            return new GoldenModel(name, dir, List.copyOf(sequences), ints(greedy.get("prompt")),
                    ints(greedy.get("tokens")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Sequence sequence(int length) {
        return sequences.stream().filter(s -> s.ids().length == length).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(name + " has no sequence of length " + length));
    }

    private static Path resourceDir(String resource) {
        URL url = GoldenModel.class.getClassLoader().getResource(resource);
        if (url == null) throw new IllegalStateException("test resource " + resource + " not found");
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    private static final Pattern SHAPE = Pattern.compile("'shape': \\((\\d+), (\\d+)\\)");

    /** A little-endian float32 C-order 2-D .npy file (format version 1) whose first dimension is rows. */
    static float[] readNpyFloat32(Path file, int rows) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = Short.toUnsignedInt(buf.getShort(8));
        String header = new String(buf.array(), 10, headerLength, java.nio.charset.StandardCharsets.US_ASCII);
        Matcher m = SHAPE.matcher(header);
        if (buf.get(6) != 1 || !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") || !m.find()) {
            throw new IOException(file + ": not a version-1 little-endian float32 C-order 2-D array: " + header);
        }
        int numRows = Integer.parseInt(m.group(1));
        int numCols = Integer.parseInt(m.group(2));
        if (numRows != rows) throw new IOException(file + ": " + numRows + " rows, expected " + rows);
        float[] out = new float[numRows * numCols];
        buf.position(10 + headerLength);
        buf.asFloatBuffer().get(out);
        return out;
    }
}
