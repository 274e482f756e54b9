package io.radixlm.cli;

import io.radixlm.engine.LlmEngine;
import io.radixlm.engine.LoadedModel;
import io.radixlm.engine.Request;
import io.radixlm.engine.RequestOutput;
import io.radixlm.sampling.SamplingParams;
import io.radixlm.engine.TokenListener;
import io.radixlm.tokenizer.ChatMessage;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** Generates a continuation of each prompt, one request after the other, so later ones can hit the cache. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate text from one or more prompts.",
                "Several --prompt/--prompt-ids run as separate requests in the order given, in one process, "
                        + "so a later prompt can reuse the prefix cache of an earlier one. Text streams to stdout; "
                        + "metrics (prompt and cached tokens, why the cache missed, TTFT, TPOT) go to stderr."})
final class GenerateCommand implements Callable<Integer> {

    /** One prompt: text (tokenized with BOS as the model's tokenizer says) or ids (used exactly). */
    static final class Prompt {
        @Option(names = "--prompt", paramLabel = "TEXT", required = true,
                description = "A text prompt, tokenized as the model's tokenizer says (BOS included).")
        String text;

        @Option(names = "--prompt-ids", paramLabel = "1,2,3", required = true, converter = PromptIds.Converter.class,
                description = "A prompt as token ids, used exactly as given (no BOS added).")
        PromptIds ids;
    }

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1..*")
    List<Prompt> prompts = new ArrayList<>();

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SamplingOptions samplingOptions;

    @Option(names = "--chat", description = "Wrap each text prompt as a user message in the model's chat template.")
    boolean chat;

    @Option(names = "--json", description = "Print one JSON object per request (one line each) instead of streaming text.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        SamplingParams params = samplingOptions.toParams();
        if (chat && prompts.stream().anyMatch(p -> p.ids != null)) {
            throw new UserException("--chat wraps text prompts in the chat template; it cannot take --prompt-ids");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LoadedModel model = modelOptions.load(err)) {
            List<int[]> promptIds = encodeAll(model);
            try (LlmEngine engine = modelOptions.openEngine(model, err)) {
                for (int i = 0; i < promptIds.size(); i++) {
                    Request request = new Request("request-" + (i + 1), promptIds.get(i), params, "");
                    run(engine, request, out, err);
                }
            }
        }
        return 0;
    }

    /** Every prompt's ids, checked against the model before anything runs. */
    private List<int[]> encodeAll(LoadedModel model) {
        List<int[]> all = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            Prompt prompt = prompts.get(i);
            int[] ids;
            if (prompt.ids != null) {
                ids = prompt.ids.ids();
            } else if (chat) {
                ids = model.encodeChat(List.of(new ChatMessage("user", prompt.text)), true);
            } else {
                ids = model.encodePrompt(prompt.text);
            }
            PromptIds.requireFits(ids, model.config(), prompts.size() == 1 ? "the prompt" : "prompt " + (i + 1));
            all.add(ids);
        }
        return all;
    }

    private void run(LlmEngine engine, Request request, PrintWriter out, PrintWriter err) {
        if (json) {
            RequestOutput output = engine.generate(List.of(request), TokenListener.NONE).getFirst();
            out.println(OutputReport.json(output, request.params().seed()));
            out.flush();
            return;
        }
        if (!chat && engine.tokenizer() != null) {
            out.print(engine.tokenizer().decode(request.promptIds()));
        }
        TokenListener streamer = (id, token, delta) -> {
            out.print(delta);
            out.flush();
        };
        RequestOutput output = engine.generate(List.of(request), streamer).getFirst();
        out.println();
        out.flush();
        err.println(OutputReport.metricsLine(output, request.params().seed()));
        err.flush();
    }
}
