package io.radixlm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.radixlm.model.ModelFormatException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static io.radixlm.tokenizer.GoldenTokenizers.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** HfTokenizer against ids and text that HF tokenizers itself produced (golden/tokenizers). */
class HfTokenizerTest {

    private static final Map<String, HfTokenizer> TOKENIZERS = new HashMap<>();

    static HfTokenizer tokenizer(String name) {
        return TOKENIZERS.computeIfAbsent(name, n -> HfTokenizer.load(GoldenTokenizers.dir(n).resolve("tokenizer.json")));
    }

    @AfterAll
    static void closeAll() {
        TOKENIZERS.values().forEach(HfTokenizer::close);
    }

    static Stream<Object[]> cases() {
        return GoldenTokenizers.cases();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void encodesAndDecodesAsHfTokenizers(String name, JsonNode c) {
        HfTokenizer t = tokenizer(name);
        String text = c.path("text").asText();
        assertArrayEquals(ints(c.path("ids")), t.encode(text, true), "ids with special tokens");
        assertArrayEquals(ints(c.path("ids_no_special")), t.encode(text, false), "ids without special tokens");
        assertEquals(c.path("decoded").asText(), t.decode(ints(c.path("ids"))), "decode skips special tokens");
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void tokenIdAndTokenTextAreInverse(String name, JsonNode c) {
        HfTokenizer t = tokenizer(name);
        JsonNode tokens = c.path("tokens_no_special");
        int[] ids = ints(c.path("ids_no_special"));
        for (int i = 0; i < ids.length; i++) {
            assertEquals(ids[i], t.tokenId(tokens.get(i).asText()));
            assertEquals(tokens.get(i).asText(), t.tokenText(ids[i]));
        }
    }

    @Test
    void specialTokensAndVocabSizeComeFromTokenizerJson() {
        HfTokenizer spm = tokenizer("spm_bytefallback");
        assertEquals(1, spm.tokenId("<s>"));
        assertEquals(2, spm.tokenId("</s>"));
        assertEquals(3, spm.tokenId("<0x00>"));
        assertEquals(-1, spm.tokenId("no such token"));
        assertNull(spm.tokenText(1000));
        assertNull(spm.tokenText(-1));
        assertTrue(spm.isSpecial(1));
        assertFalse(spm.isSpecial(3));
        assertEquals(1000, spm.vocabSize());
        HfTokenizer bytes = tokenizer("bytelevel");
        assertEquals(4, bytes.tokenId("<|eot_id|>"));
        assertEquals(1000, bytes.vocabSize());
    }

    /** DJL truncates to 512 (or model_max_length) tokens unless told not to: a long prompt must stay whole. */
    @Test
    void longTextIsNotTruncated() {
        for (String name : GoldenTokenizers.NAMES) {
            HfTokenizer t = tokenizer(name);
            String text = "Once upon a time, 東京 had a café. ".repeat(300);
            int[] ids = t.encode(text, false);
            assertTrue(ids.length > 3000, name + " gave only " + ids.length + " ids");
            assertEquals(text, t.decode(ids));
            int[] once = t.encode("Once upon a time, 東京 had a café.", false);
            assertEquals(once.length, t.encode("Once upon a time, 東京 had a café.", false).length);
        }
    }

    @Test
    void missingOrMalformedFilesAreModelFormatErrors(@TempDir Path dir) throws IOException {
        assertThrows(ModelFormatException.class, () -> HfTokenizer.load(dir.resolve("tokenizer.json")));
        Path notJson = Files.writeString(dir.resolve("bad.json"), "{ this is not json");
        assertThrows(ModelFormatException.class, () -> HfTokenizer.load(notJson));
        Path noModel = Files.writeString(dir.resolve("nomodel.json"), "{\"added_tokens\": []}");
        assertThrows(ModelFormatException.class, () -> HfTokenizer.load(noModel));
        Path badModel = Files.writeString(dir.resolve("badmodel.json"),
                "{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {\"a\": 0}}}");
        assertThrows(ModelFormatException.class, () -> HfTokenizer.load(badModel));
    }

    /** A minimal hand-written WordLevel tokenizer: the binding runs any model type tokenizers supports. */
    @Test
    void loadsAHandWrittenTokenizer(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("tokenizer.json"), """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [{"id": 3, "content": "[BOS]", "single_word": false, "lstrip": false,
                                   "rstrip": false, "normalized": false, "special": true}],
                 "normalizer": null,
                 "pre_tokenizer": {"type": "Whitespace"},
                 "post_processor": {"type": "TemplateProcessing",
                     "single": [{"SpecialToken": {"id": "[BOS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                     "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                     "special_tokens": {"[BOS]": {"id": "[BOS]", "ids": [3], "tokens": ["[BOS]"]}}},
                 "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2}, "unk_token": "[UNK]"}}
                """);
        try (HfTokenizer t = HfTokenizer.load(file)) {
            assertArrayEquals(new int[] {3, 1, 2, 0}, t.encode("hello world nope", true));
            assertArrayEquals(new int[] {1, 2}, t.encode("hello world", false));
            assertEquals(4, t.vocabSize());
            assertEquals("hello world", t.decode(new int[] {3, 1, 2}));
        }
    }
}
