package io.radixlm.tokenizer;

/** A chat template that cannot be rendered for a conversation: a syntax error or the template's raise_exception. */
public class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) { super(message); }
}
