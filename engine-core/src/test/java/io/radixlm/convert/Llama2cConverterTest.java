package io.radixlm.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.radixlm.convert.Llama2cFixtures.StoredTensor;
import io.radixlm.model.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class Llama2cConverterTest {
    // Small but with GQA (4 query heads share 2 kv heads) and head_dim 8 (4 RoPE pairs).
    static final int DIM = 32, HIDDEN = 48, LAYERS = 2, HEADS = 4, KV_HEADS = 2, SEQ = 16;
    static final int HEAD_DIM = DIM / HEADS, KV_DIM = KV_HEADS * HEAD_DIM;

    @TempDir Path tmp;

    record Converted(float[] payload, Map<String, StoredTensor> tensors, JsonNode config, int vocab) {}

    private Converted convert(boolean shared) throws IOException {
        List<String> pieces = new ArrayList<>();
        for (int i = 0; i < 41; i++) pieces.add(" w" + i);
        int vocab = 259 + pieces.size();
        Path ckpt = tmp.resolve("model.bin");
        Path tok = tmp.resolve("tokenizer.bin");
        float[] payload = Llama2cFixtures.writeCheckpoint(ckpt, DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, vocab, SEQ, shared, 7);
        Llama2cFixtures.writeTokenizerBin(tok, pieces);
        Path out = tmp.resolve("out");
        List<String> progress = new ArrayList<>();
        Llama2cConverter.convert(ckpt, tok, out, progress::add);
        assertFalse(progress.isEmpty());
        return new Converted(payload, Llama2cFixtures.readSafetensors(out.resolve("model.safetensors")),
                new ObjectMapper().readTree(out.resolve("config.json").toFile()), vocab);
    }

    /** Offsets of each llama2.c array inside the payload, walked in run.c's memory_map_weights order. */
    record Layout(int vocab) {
        long embed() { return 0; }
        long rmsAtt() { return embed() + (long) vocab * DIM; }
        long wq() { return rmsAtt() + LAYERS * DIM; }
        long wk() { return wq() + (long) LAYERS * DIM * DIM; }
        long wv() { return wk() + (long) LAYERS * DIM * KV_DIM; }
        long wo() { return wv() + (long) LAYERS * DIM * KV_DIM; }
        long rmsFfn() { return wo() + (long) LAYERS * DIM * DIM; }
        long w1() { return rmsFfn() + LAYERS * DIM; }
        long w2() { return w1() + (long) LAYERS * DIM * HIDDEN; }
        long w3() { return w2() + (long) LAYERS * DIM * HIDDEN; }
        long rmsFinal() { return w3() + (long) LAYERS * DIM * HIDDEN; }
        long wcls() { return rmsFinal() + DIM + (long) SEQ * HEAD_DIM; }
    }

    private static float[] slice(float[] a, long from, long len) {
        return Arrays.copyOfRange(a, (int) from, (int) (from + len));
    }

    @Test
    void copiesEveryUnpermutedArrayExactlyUnderItsHfName() throws IOException {
        Converted c = convert(true);
        Layout at = new Layout(c.vocab());
        float[] p = c.payload();
        assertArrayEquals(slice(p, at.embed(), (long) c.vocab() * DIM), c.tensors().get("model.embed_tokens.weight").data());
        assertArrayEquals(new long[] {c.vocab(), DIM}, c.tensors().get("model.embed_tokens.weight").shape());
        assertArrayEquals(slice(p, at.rmsFinal(), DIM), c.tensors().get("model.norm.weight").data());
        for (int l = 0; l < LAYERS; l++) {
            String n = "model.layers." + l + ".";
            assertArrayEquals(slice(p, at.rmsAtt() + l * DIM, DIM), c.tensors().get(n + "input_layernorm.weight").data());
            assertArrayEquals(slice(p, at.rmsFfn() + l * DIM, DIM), c.tensors().get(n + "post_attention_layernorm.weight").data());
            assertArrayEquals(slice(p, at.wv() + (long) l * DIM * KV_DIM, (long) DIM * KV_DIM), c.tensors().get(n + "self_attn.v_proj.weight").data());
            assertArrayEquals(slice(p, at.wo() + (long) l * DIM * DIM, (long) DIM * DIM), c.tensors().get(n + "self_attn.o_proj.weight").data());
            assertArrayEquals(slice(p, at.w1() + (long) l * DIM * HIDDEN, (long) DIM * HIDDEN), c.tensors().get(n + "mlp.gate_proj.weight").data());
            assertArrayEquals(slice(p, at.w2() + (long) l * DIM * HIDDEN, (long) DIM * HIDDEN), c.tensors().get(n + "mlp.down_proj.weight").data());
            assertArrayEquals(slice(p, at.w3() + (long) l * DIM * HIDDEN, (long) DIM * HIDDEN), c.tensors().get(n + "mlp.up_proj.weight").data());
            assertArrayEquals(new long[] {KV_DIM, DIM}, c.tensors().get(n + "self_attn.k_proj.weight").shape());
            assertArrayEquals(new long[] {HIDDEN, DIM}, c.tensors().get(n + "mlp.gate_proj.weight").shape());
            assertArrayEquals(new long[] {DIM, HIDDEN}, c.tensors().get(n + "mlp.down_proj.weight").shape());
        }
        assertFalse(c.tensors().containsKey("lm_head.weight"), "a shared classifier is the embedding table");
        assertEquals(2 + LAYERS * 9, c.tensors().size());
        c.tensors().values().forEach(t -> assertEquals("F32", t.dtype()));
    }

    @Test
    void unsharedClassifierBecomesLmHeadAndUntiesEmbeddings() throws IOException {
        Converted c = convert(false);
        Layout at = new Layout(c.vocab());
        assertArrayEquals(slice(c.payload(), at.wcls(), (long) c.vocab() * DIM), c.tensors().get("lm_head.weight").data());
        assertFalse(c.config().get("tie_word_embeddings").asBoolean());
    }

    @Test
    void configDescribesTheCheckpoint() throws IOException {
        JsonNode cfg = convert(true).config();
        assertEquals("llama", cfg.get("model_type").asText());
        assertEquals(DIM, cfg.get("hidden_size").asInt());
        assertEquals(HIDDEN, cfg.get("intermediate_size").asInt());
        assertEquals(LAYERS, cfg.get("num_hidden_layers").asInt());
        assertEquals(HEADS, cfg.get("num_attention_heads").asInt());
        assertEquals(KV_HEADS, cfg.get("num_key_value_heads").asInt());
        assertEquals(HEAD_DIM, cfg.get("head_dim").asInt());
        assertEquals(SEQ, cfg.get("max_position_embeddings").asInt());
        assertEquals(259 + 41, cfg.get("vocab_size").asInt());
        assertEquals(1e-5, cfg.get("rms_norm_eps").asDouble());
        assertEquals(10000.0, cfg.get("rope_theta").asDouble());
        assertEquals("silu", cfg.get("hidden_act").asText());
        assertTrue(cfg.get("tie_word_embeddings").asBoolean());
        assertEquals(1, cfg.get("bos_token_id").asInt());
        assertEquals(2, cfg.get("eos_token_id").asInt());
    }

    /**
     * The attention score of query position m against key position n must not change: llama2.c's
     * interleaved RoPE on the original weights versus transformers' rotate-half RoPE on the converted.
     */
    @Test
    void permutedQkGiveTheSameRotatedScoresAsLlama2c() throws IOException {
        Converted c = convert(true);
        Layout at = new Layout(c.vocab());
        Random rnd = new Random(11);
        for (int l = 0; l < LAYERS; l++) {
            float[] wqOrig = slice(c.payload(), at.wq() + (long) l * DIM * DIM, (long) DIM * DIM);
            float[] wkOrig = slice(c.payload(), at.wk() + (long) l * DIM * KV_DIM, (long) DIM * KV_DIM);
            float[] wqHf = c.tensors().get("model.layers." + l + ".self_attn.q_proj.weight").data();
            float[] wkHf = c.tensors().get("model.layers." + l + ".self_attn.k_proj.weight").data();
            for (int trial = 0; trial < 5; trial++) {
                float[] x = gaussian(rnd, DIM), y = gaussian(rnd, DIM);
                int m = rnd.nextInt(SEQ), n = rnd.nextInt(SEQ);
                float[] qRef = ropeInterleaved(matmul(wqOrig, x, DIM), m);
                float[] kRef = ropeInterleaved(matmul(wkOrig, y, KV_DIM), n);
                float[] qHf = ropeRotateHalf(matmul(wqHf, x, DIM), m);
                float[] kHf = ropeRotateHalf(matmul(wkHf, y, KV_DIM), n);
                float[] qWrong = ropeRotateHalf(matmul(wqOrig, x, DIM), m);
                float[] kWrong = ropeRotateHalf(matmul(wkOrig, y, KV_DIM), n);
                boolean anyDiffers = false;
                for (int h = 0; h < HEADS; h++) {
                    int g = h / (HEADS / KV_HEADS);
                    double ref = headDot(qRef, h, kRef, g);
                    assertEquals(ref, headDot(qHf, h, kHf, g), 1e-4 * Math.max(1, Math.abs(ref)),
                            "layer " + l + " head " + h);
                    anyDiffers |= Math.abs(ref - headDot(qWrong, h, kWrong, g)) > 1e-2;
                }
                assertTrue(anyDiffers, "the check must be able to tell unpermuted weights apart");
            }
        }
    }

    @Test
    void rejectsACheckpointWhoseSizeDisagreesWithItsHeader() throws IOException {
        Path ckpt = tmp.resolve("model.bin");
        Llama2cFixtures.writeCheckpoint(ckpt, DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, 300, SEQ, true, 1);
        byte[] bytes = Files.readAllBytes(ckpt);
        Files.write(ckpt, Arrays.copyOf(bytes, bytes.length - 4));
        Path tok = tmp.resolve("tokenizer.bin");
        Llama2cFixtures.writeTokenizerBin(tok, List.of());
        var e = assertThrows(ModelFormatException.class, () -> Llama2cConverter.convert(ckpt, tok, tmp.resolve("o"), s -> { }));
        assertTrue(e.getMessage().contains("implies"), e.getMessage());
    }

    @Test
    void rejectsATokenizerWithADifferentVocabularySize() throws IOException {
        Path ckpt = tmp.resolve("model.bin");
        Llama2cFixtures.writeCheckpoint(ckpt, DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, 300, SEQ, true, 1);
        Path tok = tmp.resolve("tokenizer.bin");
        Llama2cFixtures.writeTokenizerBin(tok, List.of(" a", " b")); // 261 tokens, header says 300
        assertThrows(ModelFormatException.class, () -> Llama2cConverter.convert(ckpt, tok, tmp.resolve("o"), s -> { }));
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    /** w (rows, x.length) row-major times x. */
    private static float[] matmul(float[] w, float[] x, int rows) {
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < x.length; c++) s += (double) w[r * x.length + c] * x[c];
            out[r] = (float) s;
        }
        return out;
    }

    /** run.c: pairs (i, i+1) of the whole vector, frequency from i modulo head size. */
    private static float[] ropeInterleaved(float[] v, int pos) {
        float[] out = v.clone();
        for (int i = 0; i < v.length; i += 2) {
            int headDimIndex = i % HEAD_DIM;
            double freq = 1.0 / Math.pow(10000.0, headDimIndex / (double) HEAD_DIM);
            double cos = Math.cos(pos * freq), sin = Math.sin(pos * freq);
            out[i] = (float) (v[i] * cos - v[i + 1] * sin);
            out[i + 1] = (float) (v[i] * sin + v[i + 1] * cos);
        }
        return out;
    }

    /** transformers' apply_rotary_pos_emb: x*cos + rotate_half(x)*sin with inv_freq = theta^(-2j/d). */
    private static float[] ropeRotateHalf(float[] v, int pos) {
        float[] out = v.clone();
        int half = HEAD_DIM / 2;
        for (int base = 0; base < v.length; base += HEAD_DIM) {
            for (int j = 0; j < half; j++) {
                double freq = 1.0 / Math.pow(10000.0, 2.0 * j / HEAD_DIM);
                double cos = Math.cos(pos * freq), sin = Math.sin(pos * freq);
                float a = v[base + j], b = v[base + j + half];
                out[base + j] = (float) (a * cos - b * sin);
                out[base + j + half] = (float) (b * cos + a * sin);
            }
        }
        return out;
    }

    private static double headDot(float[] q, int qHead, float[] k, int kHead) {
        double s = 0;
        for (int i = 0; i < HEAD_DIM; i++) s += (double) q[qHead * HEAD_DIM + i] * k[kHead * HEAD_DIM + i];
        return s;
    }
}
