package io.radixlm.engine;

import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.ModelFormatException;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.model.TensorNames;
import io.radixlm.model.WeightSource;
import io.radixlm.tokenizer.ChatMessage;
import io.radixlm.tokenizer.ChatTemplate;
import io.radixlm.tokenizer.HfTokenizer;
import io.radixlm.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/** A model directory opened for use: config, mapped weights, tokenizer and chat template when present. */
public final class LoadedModel implements AutoCloseable {
    private final Path dir;
    private final ModelConfig config;
    private final WeightSource weights;
    private final Tokenizer tokenizer;       // null without tokenizer.json
    private final ChatTemplate chatTemplate; // null without a chat template

    private LoadedModel(Path dir, ModelConfig config, WeightSource weights, Tokenizer tokenizer,
                        ChatTemplate chatTemplate) {
        this.dir = dir;
        this.config = config;
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
    }

    /** Opens dir (config.json, safetensors, optional tokenizer.json/tokenizer_config.json), validating all. */
    public static LoadedModel load(Path dir, Consumer<String> progress) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException("model directory not found: " + dir);
        ModelConfig config = ConfigLoader.load(dir);
        progress.accept("model: " + config.modelType() + ", " + config.numLayers() + " layers, hidden "
                + config.hiddenSize() + ", vocab " + config.vocabSize() + " (" + dir + ")");
        WeightSource weights = SafetensorsWeights.open(dir);
        try {
            TensorNames.validate(config, weights);
            Path tokenizerJson = dir.resolve("tokenizer.json");
            Tokenizer tokenizer = Files.exists(tokenizerJson) ? HfTokenizer.load(tokenizerJson) : null;
            ChatTemplate template = tokenizer == null ? null : ChatTemplate.fromModelDir(dir);
            if (tokenizer == null) progress.accept("no tokenizer.json: prompts must be given as token ids");
            return new LoadedModel(dir, config, weights, tokenizer, template);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Path dir() { return dir; }

    public ModelConfig config() { return config; }

    public WeightSource weights() { return weights; }

    /** The tokenizer, or null when the directory has no tokenizer.json (prompts must then be ids). */
    public Tokenizer tokenizer() { return tokenizer; }

    /** Token ids of a text prompt, with BOS (and whatever else) as the tokenizer's post-processor says. */
    public int[] encodePrompt(String text) {
        return requireTokenizer().encode(text, true);
    }

    public boolean hasChatTemplate() { return chatTemplate != null; }

    /** Ids of a conversation rendered by the chat template, as transformers' apply_chat_template(tokenize=True). */
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        if (chatTemplate == null) {
            throw new IllegalArgumentException("the model in " + dir + " has no chat template (tokenizer_config.json)");
        }
        return chatTemplate.encode(requireTokenizer(), messages, addGenerationPrompt);
    }

    /** EOS ids from generation_config.json / config.json. */
    public List<Integer> eosTokenIds() { return config.eosTokenIds(); }

    private Tokenizer requireTokenizer() {
        if (tokenizer == null) {
            throw new IllegalArgumentException("the model in " + dir
                    + " has no tokenizer.json: give the prompt as token ids (--prompt-ids)");
        }
        return tokenizer;
    }

    @Override
    public void close() {
        if (tokenizer != null) tokenizer.close();
        weights.close();
    }
}
