package io.radixlm.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.model.DType;
import io.radixlm.model.ModelFormatException;
import io.radixlm.model.SafetensorsWriter;
import io.radixlm.model.SafetensorsWriter.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Turns a llama2.c checkpoint and tokenizer.bin into a Hugging Face model directory (config.json,
 * generation_config.json, model.safetensors in F32, tokenizer.json, tokenizer_config.json), so the
 * engine needs one loader only.
 */
public final class Llama2cConverter {
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cConverter() {}

    /**
     * Converts into outDir (created if missing; existing files of the same names are overwritten).
     *
     * @param progress receives one line per step; may be {@code s -> {}}
     */
    public static void convert(Path checkpoint, Path tokenizerBin, Path outDir, Consumer<String> progress)
            throws IOException {
        Files.createDirectories(outDir);
        Llama2cHeader header;
        try (Arena arena = Arena.ofConfined();
             FileChannel ch = FileChannel.open(checkpoint, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            header = Llama2cHeader.read(file);
            if (file.byteSize() != header.fileBytes()) {
                throw new ModelFormatException("llama2.c checkpoint " + checkpoint + " is " + file.byteSize()
                        + " bytes but its header " + header + " implies " + header.fileBytes());
            }
            progress.accept("converting weights: " + header.numLayers() + " layers, dim " + header.dim() + ", hidden " + header.hiddenDim()
                    + ", " + header.numHeads() + " heads (" + header.numKvHeads() + " kv), vocab " + header.vocabSize() + ", context " + header.seqLen());
            List<Tensor> tensors = hfTensors(header, new FloatCursor(file, Llama2cHeader.BYTES));
            progress.accept("writing model.safetensors");
            SafetensorsWriter.write(outDir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
        }
        progress.accept("converting tokenizer");
        Llama2cVocab vocab = Llama2cVocab.read(tokenizerBin, header.vocabSize());
        writeJson(outDir.resolve("tokenizer.json"), SentencePieceTokenizerJson.build(vocab));
        writeJson(outDir.resolve("tokenizer_config.json"), tokenizerConfig());
        writeJson(outDir.resolve("config.json"), config(header));
        writeJson(outDir.resolve("generation_config.json"), generationConfig());
        progress.accept("converted into " + outDir);
    }

    /** Reads the arrays in run.c's memory_map_weights order and names them as transformers' LlamaForCausalLM. */
    private static List<Tensor> hfTensors(Llama2cHeader h, FloatCursor in) {
        int dim = h.dim();
        int hidden = h.hiddenDim();
        int kvDim = h.kvDim();
        int numLayers = h.numLayers();
        List<Tensor> out = new ArrayList<>();
        float[] embedding = in.next((long) h.vocabSize() * dim);              // (vocab, dim)
        out.add(tensor("model.embed_tokens.weight", embedding, h.vocabSize(), dim));
        float[][] rmsAtt = in.nextPerLayer(numLayers, dim);                   // (layer, dim)
        float[][] wq = in.nextPerLayer(numLayers, (long) dim * dim);           // (layer, n_heads*head, dim)
        float[][] wk = in.nextPerLayer(numLayers, (long) kvDim * dim);         // (layer, kv_heads*head, dim)
        float[][] wv = in.nextPerLayer(numLayers, (long) kvDim * dim);         // (layer, kv_heads*head, dim)
        float[][] wo = in.nextPerLayer(numLayers, (long) dim * dim);           // (layer, dim, n_heads*head)
        float[][] rmsFfn = in.nextPerLayer(numLayers, dim);                   // (layer, dim)
        float[][] w1 = in.nextPerLayer(numLayers, (long) hidden * dim);        // (layer, hidden, dim)
        float[][] w2 = in.nextPerLayer(numLayers, (long) dim * hidden);        // (layer, dim, hidden)
        float[][] w3 = in.nextPerLayer(numLayers, (long) hidden * dim);        // (layer, hidden, dim)
        float[] rmsFinal = in.next(dim);                                      // (dim,)
        in.skip((long) h.seqLen() * h.headDim());                             // freq_cis_real, freq_cis_imag: unused
        for (int l = 0; l < numLayers; l++) {
            String p = "model.layers." + l + ".";
            out.add(tensor(p + "input_layernorm.weight", rmsAtt[l], dim));
            out.add(tensor(p + "self_attn.q_proj.weight",
                    RopeLayout.interleavedToRotateHalf(wq[l], h.numHeads(), h.headDim(), dim), dim, dim));
            out.add(tensor(p + "self_attn.k_proj.weight",
                    RopeLayout.interleavedToRotateHalf(wk[l], h.numKvHeads(), h.headDim(), dim), kvDim, dim));
            out.add(tensor(p + "self_attn.v_proj.weight", wv[l], kvDim, dim));
            out.add(tensor(p + "self_attn.o_proj.weight", wo[l], dim, dim));
            out.add(tensor(p + "post_attention_layernorm.weight", rmsFfn[l], dim));
            out.add(tensor(p + "mlp.gate_proj.weight", w1[l], hidden, dim));
            out.add(tensor(p + "mlp.down_proj.weight", w2[l], dim, hidden));
            out.add(tensor(p + "mlp.up_proj.weight", w3[l], hidden, dim));
        }
        out.add(tensor("model.norm.weight", rmsFinal, dim));
        if (!h.sharedClassifier()) {
            out.add(tensor("lm_head.weight", in.next((long) h.vocabSize() * dim), h.vocabSize(), dim));
        }
        return out;
    }

    private static Tensor tensor(String name, float[] data, long... shape) {
        return new Tensor(name, DType.F32, shape, data);
    }

    static ObjectNode config(Llama2cHeader h) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("hidden_size", h.dim());
        c.put("intermediate_size", h.hiddenDim());
        c.put("num_hidden_layers", h.numLayers());
        c.put("num_attention_heads", h.numHeads());
        c.put("num_key_value_heads", h.numKvHeads());
        c.put("head_dim", h.headDim());
        c.put("vocab_size", h.vocabSize());
        c.put("max_position_embeddings", h.seqLen());
        c.put("hidden_act", "silu");
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", 10000.0);
        c.putNull("rope_scaling");
        c.put("attention_bias", false);
        c.put("mlp_bias", false);
        c.put("tie_word_embeddings", h.sharedClassifier());
        c.put("bos_token_id", Llama2cVocab.BOS_ID);
        c.put("eos_token_id", Llama2cVocab.EOS_ID);
        c.put("torch_dtype", "float32");
        return c;
    }

    private static ObjectNode generationConfig() {
        ObjectNode g = JSON.createObjectNode();
        g.put("bos_token_id", Llama2cVocab.BOS_ID);
        g.put("eos_token_id", Llama2cVocab.EOS_ID);
        return g;
    }

    private static ObjectNode tokenizerConfig() {
        ObjectNode t = JSON.createObjectNode();
        t.put("tokenizer_class", "LlamaTokenizerFast");
        t.put("bos_token", "<s>");
        t.put("eos_token", "</s>");
        t.put("unk_token", "<unk>");
        t.put("add_bos_token", true);
        t.put("add_eos_token", false);
        t.put("model_max_length", 1_000_000);
        return t;
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    static void writeJson(Path file, ObjectNode node) throws IOException {
        JSON.writeValue(file.toFile(), node);
    }

    /** Walks the float32 arrays after the header in file order. */
    private static final class FloatCursor {
        private final MemorySegment file;
        private long offset;

        FloatCursor(MemorySegment file, long offset) {
            this.file = file;
            this.offset = offset;
        }

        float[] next(long numFloats) {
            if (numFloats > Integer.MAX_VALUE - 8) {
                throw new ModelFormatException("llama2.c tensor of " + numFloats + " floats is too large to convert");
            }
            float[] out = new float[(int) numFloats];
            MemorySegment.copy(file, FLOAT_LE, offset, out, 0, out.length);
            offset += 4 * numFloats;
            return out;
        }

        float[][] nextPerLayer(int numLayers, long floatsPerLayer) {
            float[][] out = new float[numLayers][];
            for (int l = 0; l < numLayers; l++) out[l] = next(floatsPerLayer);
            return out;
        }

        void skip(long numFloats) { offset += 4 * numFloats; }
    }
}
