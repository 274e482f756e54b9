package io.radixlm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import io.radixlm.model.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's chat template (tokenizer_config.json's chat_template, or chat_template.jinja) rendered as
 * transformers' apply_chat_template does: Jinja with trim_blocks and lstrip_blocks, no trailing newline
 * kept, and a context of messages, add_generation_prompt and the special tokens (bos_token, eos_token, ...).
 */
public final class ChatTemplate {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;                        // after the Python-ism rewrite
    private final Map<String, String> specialTokens;    // "bos_token" -> "<s>", ...
    private final Jinjava jinjava;

    /** specialTokens: names as in tokenizer_config.json ("bos_token", "eos_token", ...) to their text. */
    public ChatTemplate(String template, Map<String, String> specialTokens) {
        if (template == null || template.isEmpty()) throw new IllegalArgumentException("empty chat template");
        // Jinja's keep_trailing_newline=False: a single newline at the end of the source is dropped.
        String trimmed = template.endsWith("\n") ? template.substring(0, template.length() - 1) : template;
        this.source = JinjaPythonisms.rewrite(trimmed);
        this.specialTokens = Map.copyOf(specialTokens);
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        JinjaPythonisms.register(jinjava);
    }

    /**
     * The template of a model directory, or null when it has none. chat_template.jinja wins over
     * tokenizer_config.json's chat_template (as in transformers); a list of named templates gives "default".
     */
    public static ChatTemplate fromModelDir(Path dir) {
        JsonNode config = readConfig(dir.resolve("tokenizer_config.json"));
        Map<String, String> specialTokens = specialTokens(config);
        Path jinjaFile = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinjaFile)) {
            try {
                return new ChatTemplate(Files.readString(jinjaFile), specialTokens);
            } catch (IOException e) {
                throw new ModelFormatException("cannot read " + jinjaFile + ": " + e.getMessage(), e);
            }
        }
        String template = templateText(config.path("chat_template"), dir);
        return template == null ? null : new ChatTemplate(template, specialTokens);
    }

    /** bos_token's text, or "" when the tokenizer config names none. */
    public String bosToken() {
        return specialTokens.getOrDefault("bos_token", "");
    }

    /** The conversation as text; ChatTemplateException when the template rejects it or cannot run. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        Map<String, Object> context = new HashMap<>(specialTokens);
        List<Map<String, Object>> messageMaps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            messageMaps.add(map);
        }
        context.put("messages", messageMaps);
        context.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result = jinjava.renderForResult(source, context);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) throw asChatTemplateException(error);
        }
        return result.getOutput();
    }

    /**
     * Token ids of the rendered conversation. Special tokens are added only when the rendered text does not
     * already start with bos_token, so a template that writes BOS itself does not get a second one.
     */
    public int[] encode(Tokenizer tokenizer, List<ChatMessage> messages, boolean addGenerationPrompt) {
        String text = render(messages, addGenerationPrompt);
        String bos = bosToken();
        boolean templateWroteBos = !bos.isEmpty() && text.startsWith(bos);
        return tokenizer.encode(text, !templateWroteBos);
    }

    private static ChatTemplateException asChatTemplateException(TemplateError error) {
        // raise_exception's own exception is wrapped by Jinjava; surface the template's message.
        for (Throwable t = error.getException(); t != null; t = t.getCause()) {
            if (t instanceof ChatTemplateException e) return e;
        }
        return new ChatTemplateException("chat template error: " + error.getMessage());
    }

    private static JsonNode readConfig(Path file) {
        if (!Files.isRegularFile(file)) return JSON.createObjectNode();
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException("malformed " + file + ": " + e.getMessage(), e);
        }
    }

    // tokenizer_config.json writes a special token as a string or as an AddedToken {"content": ...}.
    private static Map<String, String> specialTokens(JsonNode config) {
        Map<String, String> tokens = new HashMap<>();
        for (Map.Entry<String, JsonNode> e : config.properties()) {
            if (!e.getKey().endsWith("_token")) continue;
            JsonNode v = e.getValue();
            if (v.isTextual()) tokens.put(e.getKey(), v.asText());
            else if (v.isObject() && v.path("content").isTextual()) tokens.put(e.getKey(), v.path("content").asText());
        }
        return tokens;
    }

    private static String templateText(JsonNode node, Path dir) {
        if (node.isTextual()) return node.asText();
        if (node.isArray()) {                       // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
            for (JsonNode named : node) {
                if ("default".equals(named.path("name").asText())) return named.path("template").asText();
            }
            if (!node.isEmpty()) return node.get(0).path("template").asText();
        }
        if (node.isMissingNode() || node.isNull()) return null;
        throw new ModelFormatException("chat_template in " + dir + " is neither a string nor a list of templates");
    }
}
