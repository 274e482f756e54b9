package io.radixlm.engine;

import io.radixlm.model.ModelConfig;
import io.radixlm.model.WeightSource;
import io.radixlm.tokenizer.ChatMessage;
import io.radixlm.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/** A model directory opened for use: config, mapped weights, tokenizer and chat template when present. */
public final class LoadedModel implements AutoCloseable {

    private LoadedModel() { }

    /** Opens dir (config.json, safetensors, optional tokenizer.json/tokenizer_config.json), validating all. */
    public static LoadedModel load(Path dir, Consumer<String> progress) {
        throw new UnsupportedOperationException("under construction");
    }

    public Path dir() { throw new UnsupportedOperationException(); }

    public ModelConfig config() { throw new UnsupportedOperationException(); }

    public WeightSource weights() { throw new UnsupportedOperationException(); }

    /** The tokenizer, or null when the directory has no tokenizer.json (prompts must then be ids). */
    public Tokenizer tokenizer() { throw new UnsupportedOperationException(); }

    /** Token ids of a text prompt, with BOS (and whatever else) as the tokenizer's post-processor says. */
    public int[] encodePrompt(String text) { throw new UnsupportedOperationException(); }

    public boolean hasChatTemplate() { throw new UnsupportedOperationException(); }

    /** Ids of a conversation rendered by the chat template, as transformers' apply_chat_template(tokenize=True). */
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        throw new UnsupportedOperationException();
    }

    /** EOS ids from generation_config.json / config.json. */
    public List<Integer> eosTokenIds() { throw new UnsupportedOperationException(); }

    @Override
    public void close() { }
}
