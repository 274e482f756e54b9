package io.radixlm.convert;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The converted tokenizer.json, run by Hugging Face tokenizers (through DJL), must give the ids that
 * llama2.c's own encoder gives on the original tokenizer.bin. Uses the real stories15M install.
 */
class Stories15MTokenizerTest {
    static Path modelDir;
    static HuggingFaceTokenizer hf;
    static Llama2cEncoder reference;

    @BeforeAll
    static void setUp() throws IOException {
        System.setProperty("OPT_OUT_TRACKING", "true");
        modelDir = ModelInstaller.ensureStories15M(ModelInstaller.defaultHome(), System.out::println);
        hf = HuggingFaceTokenizer.newInstance(modelDir.resolve("tokenizer.json"));
        reference = new Llama2cEncoder(modelDir.resolve(ModelInstaller.LLAMA2C_TOKENIZER));
    }

    @AfterAll
    static void tearDown() {
        if (hf != null) hf.close();
    }

    private static int[] hfIds(String text) {
        Encoding e = hf.encode(text);
        return Arrays.stream(e.getIds()).mapToInt(Math::toIntExact).toArray();
    }

    private static void assertSameIds(String text) {
        assertArrayEquals(reference.encodeWithBos(text), hfIds(text), () -> "ids differ for '" + text + "'");
    }

    @Test
    void onceUponATimeGivesTheKnownIds() {
        assertArrayEquals(new int[] {1, 9038, 2501, 263, 931}, hfIds("Once upon a time"));
        assertArrayEquals(new int[] {1, 9038, 2501, 263, 931}, reference.encodeWithBos("Once upon a time"));
    }

    @Test
    void matchesLlama2cOnTrickyStrings() {
        List<String> texts = List.of("", " ", "  ", "   leading", "trailing   ", "a  b   c    d", "\t", "tab\there",
                "new\nline\n\n", "\r\n", "Hello, World!", "don't stop", "1234567890", "3.14159 + 2 = 5.14159",
                "café naïve résumé", "Ünïcödé", "日本語のテキスト", "中文", "한국어", "emoji 😀🎉👍🏽",
                "Lily and Ben went to the park. They saw a big, red ball!",
                "\"Mom!\" she cried. 'Look at the moon...'", "x".repeat(50), "                  many spaces",
                "                                          very many spaces", "mixed 123abc ABC def",
                "ẞ ß Ω ≈ ∑ → ⇒", "\u0000nul", "\u007f", "¡Hola! ¿Qué tal?", "Ελληνικά", "русский язык");
        texts.forEach(Stories15MTokenizerTest::assertSameIds);
    }

    @Test
    void matchesLlama2cOnRandomStrings() {
        String pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,!?'\"-\n\téèüß日本😀€";
        int[] codePoints = pool.codePoints().toArray();
        Random rnd = new Random(2024);
        for (int n = 0; n < 1500; n++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(40);
            for (int i = 0; i < len; i++) sb.appendCodePoint(codePoints[rnd.nextInt(codePoints.length)]);
            assertSameIds(sb.toString());
        }
    }

    @Test
    void decodingGivesTheTextBack() {
        for (String text : List.of("Once upon a time, there was a little girl named Lily.", "  two leading",
                "tabs\tand\nnewlines", "café 日本 😀", "1 2 3")) {
            long[] ids = hf.encode(text).getIds();
            assertEquals(text, hf.decode(ids, true));
        }
    }

    /** llama2.c run.c's encode(), written from its source, over the original tokenizer.bin. */
    static final class Llama2cEncoder {
        private final String[] vocab;
        private final float[] scores;
        private final Map<String, Integer> lookup = new HashMap<>();

        Llama2cEncoder(Path tokenizerBin) throws IOException {
            ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(tokenizerBin)).order(ByteOrder.LITTLE_ENDIAN);
            in.getInt();
            int n = 32000;
            vocab = new String[n];
            scores = new float[n];
            for (int i = 0; i < n; i++) {
                scores[i] = in.getFloat();
                byte[] b = new byte[in.getInt()];
                in.get(b);
                vocab[i] = new String(b, StandardCharsets.UTF_8);
                // This export spells byte tokens as the bytes themselves, duplicating real pieces
                // ("A", "é"); run.c's str_lookup would then find either. Byte tokens are only a
                // fallback, as in SentencePiece, so text lookup sees the normal pieces only. The
                // specials (0..2) are never produced from text either.
                if (i >= 259) lookup.putIfAbsent(vocab[i], i);
            }
        }

        int[] encodeWithBos(String text) {
            List<Integer> tokens = new ArrayList<>();
            tokens.add(1);
            if (!text.isEmpty()) tokens.add(lookup.get(" ")); // add_dummy_prefix
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            int start = 0;
            while (start < bytes.length) { // one UTF-8 code point at a time
                int end = start + 1;
                while (end < bytes.length && (bytes[end] & 0xC0) == 0x80 && end - start < 4) end++;
                Integer id = lookup.get(new String(bytes, start, end - start, StandardCharsets.UTF_8));
                if (id != null) {
                    tokens.add(id);
                } else {
                    for (int i = start; i < end; i++) tokens.add((bytes[i] & 0xFF) + 3);
                }
                start = end;
            }
            mergeByScore(tokens);
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }

        /** Merge the adjacent pair whose concatenation scores highest (leftmost on ties) until none is left. */
        private void mergeByScore(List<Integer> tokens) {
            while (true) {
                float bestScore = -1e10f;
                int bestId = -1, bestIdx = -1;
                for (int i = 1; i < tokens.size() - 1; i++) { // position 0 is BOS, which run.c adds after merging
                    if (tokens.get(i) < 259 || tokens.get(i + 1) < 259) continue; // byte tokens never merge
                    Integer id = lookup.get(vocab[tokens.get(i)] + vocab[tokens.get(i + 1)]);
                    if (id != null && scores[id] > bestScore) {
                        bestScore = scores[id];
                        bestId = id;
                        bestIdx = i;
                    }
                }
                if (bestIdx == -1) return;
                tokens.set(bestIdx, bestId);
                tokens.remove(bestIdx + 1);
            }
        }
    }
}
