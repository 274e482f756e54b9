package io.radixlm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.radixlm.cuda.CudaUnavailableException;
import io.radixlm.cuda.bench.BenchOptions;
import io.radixlm.cuda.bench.BenchReport;
import io.radixlm.cuda.bench.BenchRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** Measures radixlm on this GPU against its own copy bandwidth and GEMM rate, on random weights of real shapes. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmark the CUDA backend on random bf16 weights of real model shapes (Llama-3.2-1B, "
                + "Llama-3.1-8B, Qwen3-0.6B): no weight files needed. Measures, in the same run, the GPU's "
                + "device-to-device copy bandwidth and bf16 GEMM rate, and reports every figure against them.",
                "Items: 1 decode at batch 1 (tokens/s, % of the bandwidth roofline); 2 decode at batch 16/64/256, "
                        + "context 1k/8k; 3 the decode attention kernel alone; 4 prefill of 512/2k/8k tokens (MFU); "
                        + "5 prefix cache: TTFT cold vs hit, agent trace; 6 nano-vllm's throughput workload; "
                        + "7 (not in the default) the decode linears alone, GEMV kernel vs cuBLAS at 1 and 8 rows; "
                        + "8 (not in the default) GPU time per op of one decode step, one prefill and one prefix-hit step.",
                "Exit code 0: ran (failed cases are listed in the report); 2: no usable GPU or bad options."})
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--items", paramLabel = "1,2,...", defaultValue = "1,2,3,4,5,6",
            description = "Items to run. Default: ${DEFAULT-VALUE}.")
    String items;

    @Option(names = "--quick", description = "Short runs: fewer steps and repetitions, a smaller workload.")
    boolean quick;

    @Option(names = "--max-seconds", paramLabel = "S", defaultValue = "240",
            description = "Skip the remaining cases (and say so) after this many seconds. Default: ${DEFAULT-VALUE}.")
    double maxSeconds;

    @Option(names = "--json", description = "Print the report as one JSON object (progress still goes to stderr).")
    boolean json;

    @Override
    public Integer call() throws IOException {
        BenchOptions options = new BenchOptions(BenchOptions.parseItems(items), quick, maxSeconds);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        BenchReport report;
        try {
            report = BenchRunner.run(options, line -> {
                err.println("[bench] " + line);
                err.flush();
            });
        } catch (CudaUnavailableException e) {
            throw new UserException("radixlm bench needs a usable NVIDIA GPU: " + e.getMessage());
        }
        if (json) {
            out.println(new ObjectMapper().writeValueAsString(report.toJson()));
        } else {
            out.print(report.toText());
        }
        out.flush();
        return 0;
    }
}
