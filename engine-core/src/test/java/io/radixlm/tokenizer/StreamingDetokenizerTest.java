package io.radixlm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static io.radixlm.tokenizer.GoldenTokenizers.ints;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class StreamingDetokenizerTest {

    static Stream<Object[]> cases() {
        return GoldenTokenizers.cases();
    }

    /** Pushing the golden ids one by one gives, concatenated, HF's decode of all of them. */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void concatenatedPushesEqualFullDecode(String name, JsonNode c) {
        Tokenizer t = HfTokenizerTest.tokenizer(name);
        for (String field : List.of("ids", "ids_no_special")) {
            StreamingDetokenizer d = new StreamingDetokenizer(t);
            StringBuilder text = new StringBuilder();
            for (int id : ints(c.path(field))) {
                String piece = d.push(id);
                assertFalse(piece.indexOf('\uFFFD') >= 0, "a piece held an incomplete character: " + piece);
                text.append(piece);
            }
            text.append(d.flush());
            assertEquals(c.path("decoded").asText(), text.toString(), field);
        }
    }

    /**
     * Output that continues a prompt: the prompt's text followed by what was streamed equals the decode of
     * prompt and output together — the first output token keeps the leading space it has mid-text.
     */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void outputStreamedAfterAPromptContinuesItsText(String name, JsonNode c) {
        Tokenizer t = HfTokenizerTest.tokenizer(name);
        int[] ids = ints(c.path("ids"));
        for (int split = 1; split < ids.length; split++) {
            int[] prompt = java.util.Arrays.copyOf(ids, split);
            String promptText = t.decode(prompt);
            if (promptText.indexOf('\uFFFD') >= 0) continue;   // the prompt ends inside a character
            StreamingDetokenizer d = new StreamingDetokenizer(t, prompt);
            StringBuilder text = new StringBuilder(promptText);
            for (int i = split; i < ids.length; i++) text.append(d.push(ids[i]));
            text.append(d.flush());
            assertEquals(t.decode(ids), text.toString(), "split at " + split);
        }
    }

    /** The same across case boundaries: a long stream made of all cases, as a model's output would be. */
    @Test
    void longStreamOfAllCasesEqualsFullDecode() {
        for (String name : GoldenTokenizers.NAMES) {
            Tokenizer t = HfTokenizerTest.tokenizer(name);
            List<Integer> all = new ArrayList<>();
            for (JsonNode c : GoldenTokenizers.read(name, "cases.json").path("cases")) {
                for (int id : ints(c.path("ids_no_special"))) all.add(id);
            }
            int[] ids = all.stream().mapToInt(Integer::intValue).toArray();
            StreamingDetokenizer d = new StreamingDetokenizer(t);
            StringBuilder text = new StringBuilder();
            for (int id : ids) text.append(d.push(id));
            text.append(d.flush());
            assertEquals(t.decode(ids), text.toString(), name);
        }
    }

    /** A byte-fallback character is held back until its last byte arrives, then comes out whole. */
    @Test
    void byteFallbackCharacterWaitsForItsLastByte() {
        HfTokenizer t = HfTokenizerTest.tokenizer("spm_bytefallback");
        // 🌸 is F0 9F 8C B8 in UTF-8; the fixture tokenizer has <0xNN> tokens for every byte.
        int[] bytes = {t.tokenId("<0xF0>"), t.tokenId("<0x9F>"), t.tokenId("<0x8C>"), t.tokenId("<0xB8>")};
        StreamingDetokenizer d = new StreamingDetokenizer(t);
        assertEquals("hello", d.push(t.tokenId("▁hello")));
        assertEquals(" ", d.push(t.tokenId("▁")));
        assertEquals("", d.push(bytes[0]));
        assertEquals("", d.push(bytes[1]));
        assertEquals("", d.push(bytes[2]));
        assertEquals("🌸", d.push(bytes[3]));
        assertEquals("", d.flush());
    }

    /** An output that stops inside a character still gives all its text on flush (as U+FFFD, like decode). */
    @Test
    void flushGivesAnIncompleteTail() {
        HfTokenizer t = HfTokenizerTest.tokenizer("spm_bytefallback");
        int[] ids = {t.tokenId("▁hello"), t.tokenId("<0xF0>"), t.tokenId("<0x9F>")};
        StreamingDetokenizer d = new StreamingDetokenizer(t);
        StringBuilder text = new StringBuilder();
        for (int id : ids) text.append(d.push(id));
        assertEquals("hello", text.toString());
        text.append(d.flush());
        assertEquals(t.decode(ids), text.toString());
    }
}
