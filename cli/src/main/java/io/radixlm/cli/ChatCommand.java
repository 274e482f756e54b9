package io.radixlm.cli;

import io.radixlm.engine.LlmEngine;
import io.radixlm.engine.LoadedModel;
import io.radixlm.engine.Request;
import io.radixlm.engine.RequestOutput;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.tokenizer.ChatMessage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Multi-turn chat on stdin/stdout. Each turn re-renders the whole conversation with the chat template;
 * the prefix cache then serves the earlier turns, which the line after each reply shows.
 */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = {"Chat with a model that has a chat template. Type a message and press Enter;",
                "/exit or end of input (Ctrl-D) ends. After each reply: how many prompt tokens came from the cache."})
final class ChatCommand implements Callable<Integer> {
    static final String EXIT = "/exit";

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SamplingOptions samplingOptions;

    @Override
    public Integer call() throws IOException {
        SamplingParams params = samplingOptions.toParams();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LoadedModel model = modelOptions.load(err)) {
            if (!model.hasChatTemplate()) {
                throw new UserException("the model in " + model.dir() + " has no chat template "
                        + "(chat_template in tokenizer_config.json); use 'radixlm generate' instead");
            }
            try (LlmEngine engine = modelOptions.openEngine(model, err)) {
                converse(model, engine, params, out);
            }
        }
        return 0;
    }

    private void converse(LoadedModel model, LlmEngine engine, SamplingParams params, PrintWriter out)
            throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<ChatMessage> messages = new ArrayList<>();
        for (int turn = 1; ; turn++) {
            out.print("> ");
            out.flush();
            String line = in.readLine();
            if (line == null || line.strip().equals(EXIT)) break;
            if (line.isBlank()) continue;
            messages.add(new ChatMessage("user", line));
            int[] ids = model.encodeChat(messages, true);
            PromptIds.requireFits(ids, model.config(), "the conversation");
            RequestOutput reply = engine.generate(List.of(new Request("turn-" + turn, ids, params, "")),
                    (id, token, delta) -> {
                        out.print(delta);
                        out.flush();
                    }).getFirst();
            messages.add(new ChatMessage("assistant", reply.text()));
            out.println();
            out.println("[" + reply.cachedTokens() + " of " + reply.promptTokens() + " prompt tokens from cache]");
            out.flush();
        }
        out.println();
        out.flush();
    }
}
