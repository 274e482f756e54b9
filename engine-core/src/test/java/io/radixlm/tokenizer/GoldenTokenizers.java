package io.radixlm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The tokenizer fixtures made by HF tokenizers/transformers (test resources golden/tokenizers/NAME/). */
final class GoldenTokenizers {

    static final List<String> NAMES = List.of("bytelevel", "spm_bytefallback");
    private static final ObjectMapper JSON = new ObjectMapper();

    private GoldenTokenizers() { }

    static Path dir(String name) {
        try {
            return Path.of(GoldenTokenizers.class.getResource("/golden/tokenizers/" + name + "/tokenizer.json").toURI())
                    .getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode read(String name, String file) {
        try {
            return JSON.readTree(dir(name).resolve(file).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** (tokenizer name, case) pairs of cases.json. */
    static Stream<Object[]> cases() {
        List<Object[]> all = new ArrayList<>();
        for (String name : NAMES) {
            for (JsonNode c : read(name, "cases.json").path("cases")) all.add(new Object[] {name, c});
        }
        return all.stream();
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    static List<ChatMessage> messages(JsonNode array) {
        List<ChatMessage> out = new ArrayList<>();
        for (JsonNode m : array) out.add(new ChatMessage(m.path("role").asText(), m.path("content").asText()));
        return out;
    }
}
