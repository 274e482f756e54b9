package io.radixlm.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Writes small llama2.c files for tests and reads safetensors back without the engine's loader. */
final class Llama2cFixtures {
    private Llama2cFixtures() {}

    /** A llama2.c checkpoint with random values, in run.c's order; returns the float payload after the header. */
    static float[] writeCheckpoint(Path file, int dim, int hidden, int numLayers, int numHeads, int numKvHeads,
                                   int vocab, int seqLen, boolean shared, long seed) throws IOException {
        int headDim = dim / numHeads;
        int kvDim = numKvHeads * headDim;
        long numFloats = (long) vocab * dim + (long) numLayers * (2L * dim + 2L * dim * dim + 2L * dim * kvDim
                + 3L * dim * hidden) + dim + (long) seqLen * headDim + (shared ? 0 : (long) vocab * dim);
        float[] payload = new float[(int) numFloats];
        Random rnd = new Random(seed);
        for (int i = 0; i < payload.length; i++) payload[i] = (float) rnd.nextGaussian();
        ByteBuffer buf = ByteBuffer.allocate(28 + 4 * payload.length).order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(dim).putInt(hidden).putInt(numLayers).putInt(numHeads).putInt(numKvHeads)
                .putInt(shared ? vocab : -vocab).putInt(seqLen);
        for (float f : payload) buf.putFloat(f);
        Files.write(file, buf.array());
        return payload;
    }

    /** A tokenizer.bin in llama2.c's export format: BOS/EOS as "\n<s>\n", byte tokens as raw bytes. */
    static void writeTokenizerBin(Path file, List<String> normalPieces) throws IOException {
        var out = new java.io.ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b.putInt(0, 16).array(), 0, 4); // max_token_length
        String[] specials = {"<unk>", "\n<s>\n", "\n</s>\n"};
        for (String s : specials) writeToken(out, 0f, s.getBytes(StandardCharsets.UTF_8));
        for (int byteValue = 0; byteValue < 256; byteValue++) writeToken(out, 0f, new byte[] {(byte) byteValue});
        for (int i = 0; i < normalPieces.size(); i++) {
            writeToken(out, -i, normalPieces.get(i).getBytes(StandardCharsets.UTF_8));
        }
        Files.write(file, out.toByteArray());
    }

    private static void writeToken(java.io.ByteArrayOutputStream out, float score, byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(score).putInt(bytes.length);
        out.writeBytes(b.array());
        out.writeBytes(bytes);
    }

    record StoredTensor(String dtype, long[] shape, float[] data) {}

    /** A direct reading of the safetensors format: u64 header length, JSON header, little-endian data. */
    static Map<String, StoredTensor> readSafetensors(Path file) throws IOException {
        ByteBuffer all = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = (int) all.getLong(0);
        JsonNode header = new ObjectMapper().readTree(new String(all.array(), 8, headerLen, StandardCharsets.UTF_8));
        Map<String, StoredTensor> out = new HashMap<>();
        for (var it = header.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey().equals("__metadata__")) continue;
            JsonNode t = e.getValue();
            long[] shape = new long[t.get("shape").size()];
            for (int i = 0; i < shape.length; i++) shape[i] = t.get("shape").get(i).asLong();
            long begin = t.get("data_offsets").get(0).asLong();
            long end = t.get("data_offsets").get(1).asLong();
            float[] data = new float[(int) ((end - begin) / 4)];
            for (int i = 0; i < data.length; i++) data[i] = all.getFloat((int) (8 + headerLen + begin + 4L * i));
            out.put(e.getKey(), new StoredTensor(t.get("dtype").asText(), shape, data));
        }
        return out;
    }
}
