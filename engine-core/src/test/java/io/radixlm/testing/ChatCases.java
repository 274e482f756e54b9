package io.radixlm.testing;

import io.radixlm.tokenizer.ChatMessage;
import java.util.List;

/**
 * A golden tokenizer's chat_cases.json: conversations rendered by transformers' apply_chat_template
 * with the chat_template of the fixture's tokenizer_config.json.
 *
 * @param bosToken the bos_token the template saw
 * @param eosToken the eos_token the template saw
 * @param cases    conversations that render
 * @param errors   conversations for which the template was asked to fail
 */
public record ChatCases(String bosToken, String eosToken, List<Case> cases, List<ErrorCase> errors) {

    public ChatCases {
        cases = List.copyOf(cases);
        errors = List.copyOf(errors);
    }

    /** Rendered text and its ids (the text encoded without adding special tokens). */
    public record Case(String name, List<ChatMessage> messages, boolean addGenerationPrompt, String text, int[] ids) {
        public Case {
            messages = List.copyOf(messages);
        }
    }

    /** error is the message raised by the template's raise_exception, or null when it raised nothing. */
    public record ErrorCase(String name, List<ChatMessage> messages, String error) {
        public ErrorCase {
            messages = List.copyOf(messages);
        }
    }
}
