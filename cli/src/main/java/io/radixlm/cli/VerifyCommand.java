package io.radixlm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.backend.CpuBackend;
import io.radixlm.cuda.BackendChooser;
import io.radixlm.cuda.CudaBackend;
import io.radixlm.cuda.GpuVerifier;
import io.radixlm.engine.LoadedModel;
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

/** Runs the same prompts through the CPU reference and the CUDA backend and compares them op by op. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Check the GPU against the CPU reference: the same prompts through both backends.",
                "Prints, per layer and op (embedding, attention output, MLP output, final norm, logits), the largest "
                        + "relative error of any row, and how often the greedy tokens agree (on the prompt and on a "
                        + "continuation that feeds both backends the CPU's tokens). A disagreement where the CPU's top "
                        + "two logits are closer than 1e-2 is a near-tie and tolerated.",
                "Exit code 0: within tolerance; 1: beyond it; 2: no usable GPU or bad input."})
final class VerifyCommand implements Callable<Integer> {
    private static final String DEFAULT_PROMPT = "Once upon a time";

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "0..*")
    List<GenerateCommand.Prompt> prompts = new ArrayList<>();

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--tolerance", paramLabel = "X",
            description = "Largest allowed relative error of an op's worst row. Default: " + GpuVerifier.DEFAULT_TOLERANCE
                    + " (bf16 weights and KV against float32).")
    double tolerance = GpuVerifier.DEFAULT_TOLERANCE;

    @Option(names = "--continuation", paramLabel = "N", defaultValue = "24",
            description = "Greedy tokens compared after each prompt. Default: ${DEFAULT-VALUE}.")
    int continuation;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        if (!(tolerance > 0)) throw new UserException("--tolerance must be positive, got " + tolerance);
        if (continuation < 0) throw new UserException("--continuation must be >= 0, got " + continuation);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (LoadedModel model = modelOptions.load(err)) {
            List<int[]> ids = encodeAll(model);
            try (CudaBackend gpu = BackendChooser.cuda(model, modelOptions.gpuMemoryFraction, Progress.to(err));
                 CpuBackend cpu = new CpuBackend(model.config(), model.weights())) {
                GpuVerifier.Report report = GpuVerifier.verify(cpu, gpu, ids, continuation, tolerance);
                out.print(json ? toJson(report) + System.lineSeparator() : report.toText());
                out.flush();
                return report.passed() ? 0 : 1;
            }
        }
    }

    private List<int[]> encodeAll(LoadedModel model) {
        List<int[]> all = new ArrayList<>();
        if (prompts.isEmpty()) {
            if (model.tokenizer() == null) {
                throw new UserException("this model has no tokenizer.json: give --prompt-ids");
            }
            all.add(model.encodePrompt(DEFAULT_PROMPT));
        }
        for (int i = 0; i < prompts.size(); i++) {
            GenerateCommand.Prompt prompt = prompts.get(i);
            int[] ids = prompt.ids != null ? prompt.ids.ids() : model.encodePrompt(prompt.text);
            PromptIds.requireFits(ids, model.config(), "prompt " + (i + 1));
            all.add(ids);
        }
        return all;
    }

    private static String toJson(GpuVerifier.Report report) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        ArrayNode ops = root.putArray("ops");
        for (GpuVerifier.OpError op : report.ops()) {
            ops.addObject().put("op", op.op()).put("max_relative_error", op.maxRelativeError());
        }
        root.put("greedy_compared", report.numCompared());
        ArrayNode dis = root.putArray("disagreements");
        for (GpuVerifier.Disagreement d : report.disagreements()) {
            dis.addObject().put("prompt", d.promptIndex()).put("position", d.position()).put("cpu_token", d.cpuToken())
                    .put("cuda_token", d.gpuToken()).put("cpu_top_two_gap", d.cpuTopTwoGap()).put("near_tie", d.nearTie());
        }
        root.put("tolerance", report.tolerance());
        root.put("passed", report.passed());
        return root.toString();
    }
}
