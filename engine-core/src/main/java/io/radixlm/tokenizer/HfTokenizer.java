package io.radixlm.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.radixlm.model.ModelFormatException;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A tokenizer.json run by Hugging Face tokenizers (the Rust library) through DJL's binding.
 *
 * <p>DJL's Java layer adds behaviour of its own on top of the Rust tokenizer: truncation to 512 tokens,
 * padding, and, when it finds a tokenizer_config.json, lower-casing, accent stripping, a prefix space and
 * "clean up tokenization spaces" on decode. We want exactly what {@code tokenizers.Tokenizer.from_file}
 * does, so the tokenizer is built from the JSON text alone (no config is read) with truncation and
 * padding switched off.
 */
public final class HfTokenizer implements Tokenizer {

    static {
        // DJL's Ec2Utils.callHome reads OPT_OUT_TRACKING with Utils.getEnvOrSystemProperty: the
        // environment first, then this system property. Without it DJL probes 169.254.169.254.
        if (System.getenv("OPT_OUT_TRACKING") == null) System.setProperty("OPT_OUT_TRACKING", "true");
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final TokenizerVocab vocab;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, TokenizerVocab vocab) {
        this.tokenizer = tokenizer;
        this.vocab = vocab;
    }

    /** Loads a tokenizer.json file; a missing, unreadable or malformed file is a ModelFormatException. */
    public static HfTokenizer load(Path tokenizerJson) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw new ModelFormatException("tokenizer file not found: " + tokenizerJson);
        }
        byte[] bytes;
        JsonNode root;
        try {
            bytes = Files.readAllBytes(tokenizerJson);
            root = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new ModelFormatException("cannot read tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
        }
        TokenizerVocab vocab = TokenizerVocab.fromTokenizerJson(root, tokenizerJson);
        Map<String, String> options = new HashMap<>();
        options.put("addSpecialTokens", "true");
        options.put("truncation", "false");
        options.put("padding", "false");
        try {
            HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(bytes), options);
            return new HfTokenizer(tokenizer, vocab);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException("malformed tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
        }
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] longIds = new long[ids.length];
        for (int i = 0; i < ids.length; i++) longIds[i] = ids[i];
        return tokenizer.decode(longIds, true);
    }

    /** Id of a token's text as tokenizer.json spells it ("▁the", "Ġthe", "&lt;s&gt;"), or -1 if there is none. */
    public int tokenId(String token) {
        return vocab.tokenId(token);
    }

    /** The token's text as tokenizer.json spells it (not decoded), or null for an id without a token. */
    public String tokenText(int id) {
        return vocab.tokenText(id);
    }

    /** Ids of added tokens marked special (BOS, EOS, chat markers), which decode skips. */
    public boolean isSpecial(int id) {
        return vocab.isSpecial(id);
    }

    /** One past the largest id, counting added tokens: every id below it is valid for the embedding table. */
    @Override
    public int vocabSize() {
        return vocab.size();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
