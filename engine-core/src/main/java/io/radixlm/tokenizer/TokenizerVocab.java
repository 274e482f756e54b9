package io.radixlm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.radixlm.model.ModelFormatException;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The token ↔ id tables of a tokenizer.json (model vocabulary plus added tokens), which DJL's binding does
 * not expose. Read from the same JSON the Rust tokenizer is built from, so the two cannot disagree.
 */
final class TokenizerVocab {

    private final Map<String, Integer> idsByToken;
    private final String[] tokensById;          // (size) null where no token has the id
    private final Set<Integer> specialIds;

    private TokenizerVocab(Map<String, Integer> idsByToken, Set<Integer> specialIds) {
        this.idsByToken = idsByToken;
        this.specialIds = specialIds;
        int size = idsByToken.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        this.tokensById = new String[size];
        idsByToken.forEach((token, id) -> tokensById[id] = token);
    }

    static TokenizerVocab fromTokenizerJson(JsonNode root, Path source) {
        JsonNode vocab = root.path("model").path("vocab");
        Map<String, Integer> ids = new HashMap<>();
        if (vocab.isObject()) {                   // BPE, WordPiece, WordLevel: {"token": id}
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                ids.put(e.getKey(), checkedId(e.getValue(), source));
            }
        } else if (vocab.isArray()) {             // Unigram: [["token", score], ...], id = position
            for (int i = 0; i < vocab.size(); i++) ids.put(vocab.get(i).path(0).asText(), i);
        } else {
            throw new ModelFormatException("tokenizer " + source + " has no model.vocab");
        }
        Set<Integer> special = new HashSet<>();
        for (JsonNode added : root.path("added_tokens")) {
            int id = checkedId(added.path("id"), source);
            ids.put(added.path("content").asText(), id);
            if (added.path("special").asBoolean(false)) special.add(id);
        }
        return new TokenizerVocab(ids, special);
    }

    private static int checkedId(JsonNode id, Path source) {
        if (!id.canConvertToInt() || id.asInt() < 0) {
            throw new ModelFormatException("tokenizer " + source + " has a bad token id: " + id);
        }
        return id.asInt();
    }

    int tokenId(String token) {
        Integer id = idsByToken.get(token);
        return id == null ? -1 : id;
    }

    String tokenText(int id) {
        return id >= 0 && id < tokensById.length ? tokensById[id] : null;
    }

    boolean isSpecial(int id) {
        return specialIds.contains(id);
    }

    int size() {
        return tokensById.length;
    }
}
