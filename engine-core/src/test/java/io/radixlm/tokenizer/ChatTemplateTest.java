package io.radixlm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.radixlm.tokenizer.GoldenTokenizers.ints;
import static io.radixlm.tokenizer.GoldenTokenizers.messages;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChatTemplateTest {

    static Stream<Object[]> chatCases() {
        List<Object[]> all = new ArrayList<>();
        for (String name : GoldenTokenizers.NAMES) {
            for (JsonNode c : GoldenTokenizers.read(name, "chat_cases.json").path("cases")) all.add(new Object[] {name, c});
        }
        return all.stream();
    }

    static Stream<Object[]> errorCases() {
        List<Object[]> all = new ArrayList<>();
        for (String name : GoldenTokenizers.NAMES) {
            for (JsonNode c : GoldenTokenizers.read(name, "chat_cases.json").path("errors")) all.add(new Object[] {name, c});
        }
        return all.stream();
    }

    /** Text and ids equal to transformers' apply_chat_template(tokenize=False / True). */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("chatCases")
    void rendersAndEncodesAsTransformers(String name, JsonNode c) {
        ChatTemplate template = ChatTemplate.fromModelDir(GoldenTokenizers.dir(name));
        assertNotNull(template);
        List<ChatMessage> conversation = messages(c.path("messages"));
        boolean addGenerationPrompt = c.path("add_generation_prompt").asBoolean();
        assertEquals(c.path("text").asText(), template.render(conversation, addGenerationPrompt));
        int[] ids = template.encode(HfTokenizerTest.tokenizer(name), conversation, addGenerationPrompt);
        assertArrayEquals(ints(c.path("ids")), ids);
    }

    /** Conversations the template rejects with raise_exception fail with the template's own message. */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("errorCases")
    void raisesWhatTheTemplateRaises(String name, JsonNode c) {
        ChatTemplate template = ChatTemplate.fromModelDir(GoldenTokenizers.dir(name));
        List<ChatMessage> conversation = messages(c.path("messages"));
        if (c.path("error").isNull()) {
            template.render(conversation, true);
        } else {
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> template.render(conversation, true));
            assertEquals(c.path("error").asText(), e.getMessage());
        }
    }

    /** Meta-Llama-3-8B-Instruct's template as published: set inside a loop, loop.index0, | trim, bos_token. */
    @Test
    void llama3Template() {
        String source = "{% set loop_messages = messages %}{% for message in loop_messages %}"
                + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
                + "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
                + "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
                + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
        ChatTemplate t = new ChatTemplate(source, Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>"));
        String text = t.render(List.of(new ChatMessage("system", " Be brief. "), new ChatMessage("user", "Hi\n")), true);
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", text);
    }

    /** Qwen2-Instruct's ChatML template: loop.first, messages[0]['role'], a default system prompt. */
    @Test
    void chatMlTemplate() {
        String source = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}\n";
        ChatTemplate t = new ChatTemplate(source, Map.of("eos_token", "<|im_end|>"));
        String text = t.render(List.of(new ChatMessage("user", "2+2?"), new ChatMessage("assistant", "4"),
                new ChatMessage("user", "Sure?")), true);
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                + "<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\n", text);
        assertEquals("", t.bosToken());
    }

    /** Qwen3's template (tools branch left out): namespace, messages[::-1], is string, str.split/lstrip/rstrip/strip. */
    @Test
    void qwen3TemplateWithPythonStringMethods() {
        ChatTemplate t = new ChatTemplate(QWEN3, Map.of("eos_token", "<|im_end|>"));
        String text = t.render(List.of(new ChatMessage("system", "You are Qwen."), new ChatMessage("user", "Hi"),
                new ChatMessage("assistant", "<think>\nhmm\n</think>\n\nHello!"), new ChatMessage("user", "Bye")), true);
        assertEquals("<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", text);
        String last = t.render(List.of(new ChatMessage("user", "Q"),
                new ChatMessage("assistant", "<think>\nr\n</think>\n\nA")), false);
        assertEquals("<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\nA<|im_end|>\n", last);
    }

    /** Python str semantics, each checked against what CPython returns for the same call. */
    @Test
    void pythonStringMethods() {
        ChatTemplate t = new ChatTemplate("{{ messages[0]['content'] | tojson }}|"
                + "{{ '  a b  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi'.lstrip('\\n') }}|{{ 'hi  '.rstrip() }}|"
                + "{{ 'a,b,,c'.split(',') | length }}|{{ ' a  b '.split() | join('+') }}|{{ 'a</t>b'.split('</t>')[-1] }}|"
                + "{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'hello world'.title() }}|"
                + "{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}|{{ '-'.join(['a', 'b']) }}|{{ 'banana'.count('an') }}|"
                + "{{ [1, 2, 3][::-1] | join(',') }}", Map.of());
        String text = t.render(List.of(new ChatMessage("user", "say \"hi\"\n\u00e9")), false);
        assertEquals("\"say \\\"hi\\\"\\n\u00e9\"|a b|hi|hi|hi|4|a+b|b|true|true|Hello World|HIhi|a-b|2|3,2,1", text);
    }

    @Test
    void tojsonPrintsLikePythonJsonDumps() {
        ChatTemplate t = new ChatTemplate("{{ messages[0] | tojson }}", Map.of());
        assertEquals("{\"role\": \"user\", \"content\": \"x\"}", t.render(List.of(new ChatMessage("user", "x")), false));
    }

    @Test
    void strftimeNowFormatsTheDate() {
        ChatTemplate t = new ChatTemplate("{{ strftime_now('%d %b %Y') }}", Map.of());
        assertTrue(t.render(List.of(), false).matches("\\d\\d [A-Z][a-z]{2} \\d{4}"));
    }

    @Test
    void templateErrorsAreChatTemplateExceptions() {
        ChatTemplate broken = new ChatTemplate("{% for m in messages %}{{ m.content ", Map.of());
        assertThrows(ChatTemplateException.class, () -> broken.render(List.of(new ChatMessage("user", "x")), false));
    }

    @Test
    void modelDirectoryVariants(@TempDir Path dir) throws IOException {
        assertNull(ChatTemplate.fromModelDir(dir), "no tokenizer_config.json");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
        assertNull(ChatTemplate.fromModelDir(dir), "no chat_template");

        // AddedToken objects for special tokens, and a list of named templates: "default" is used.
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                 "chat_template": [{"name": "tool_use", "template": "TOOLS"},
                                   {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}]}
                """);
        ChatTemplate listed = ChatTemplate.fromModelDir(dir);
        assertEquals("<s>", listed.bosToken());
        assertEquals("<s>hi</s>", listed.render(List.of(new ChatMessage("user", "hi")), false));

        // chat_template.jinja, as newer models ship it, wins over tokenizer_config.json.
        Files.writeString(dir.resolve("chat_template.jinja"), "[{{ messages[0].content }}]\n");
        assertEquals("[hi]", ChatTemplate.fromModelDir(dir).render(List.of(new ChatMessage("user", "hi")), false));
    }

    /**
     * transformers encodes the rendered text with add_special_tokens=False: a template that writes BOS gets
     * exactly one, a template without BOS gets none even where the tokenizer's post-processor would add it.
     */
    @Test
    void encodeAddsNoSpecialTokensOfItsOwn() {
        HfTokenizer spm = HfTokenizerTest.tokenizer("spm_bytefallback");
        ChatTemplate withBos = new ChatTemplate("{{ bos_token }}{{ messages[0].content }}", Map.of("bos_token", "<s>"));
        assertArrayEquals(spm.encode("hello", true), withBos.encode(spm, List.of(new ChatMessage("user", "hello")), false));
        ChatTemplate withoutBos = new ChatTemplate("{{ messages[0].content }}", Map.of("bos_token", "<s>"));
        assertArrayEquals(spm.encode("hello", false), withoutBos.encode(spm, List.of(new ChatMessage("user", "hello")), false));
    }

    private static final String QWEN3 = """
            {%- if messages[0].role == 'system' %}
                {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
            {%- endif %}
            {%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
            {%- for message in messages[::-1] %}
                {%- set index = (messages|length - 1) - loop.index0 %}
                {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
                    {%- set ns.multi_step_tool = false %}
                    {%- set ns.last_query_index = index %}
                {%- endif %}
            {%- endfor %}
            {%- for message in messages %}
                {%- if message.content is string %}
                    {%- set content = message.content %}
                {%- else %}
                    {%- set content = '' %}
                {%- endif %}
                {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
                    {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
                {%- elif message.role == "assistant" %}
                    {%- set reasoning_content = '' %}
                    {%- if message.reasoning_content is string %}
                        {%- set reasoning_content = message.reasoning_content %}
                    {%- else %}
                        {%- if '</think>' in content %}
                            {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
                        {%- endif %}
                    {%- endif %}
                    {%- if loop.index0 > ns.last_query_index %}
                        {%- if loop.last or (not loop.last and reasoning_content) %}
                            {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
                        {%- else %}
                            {{- '<|im_start|>' + message.role + '\\n' + content }}
                        {%- endif %}
                    {%- else %}
                        {{- '<|im_start|>' + message.role + '\\n' + content }}
                    {%- endif %}
                    {{- '<|im_end|>\\n' }}
                {%- endif %}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|im_start|>assistant\\n' }}
                {%- if enable_thinking is defined and enable_thinking is false %}
                    {{- '<think>\\n\\n</think>\\n\\n' }}
                {%- endif %}
            {%- endif %}
            """;
}
