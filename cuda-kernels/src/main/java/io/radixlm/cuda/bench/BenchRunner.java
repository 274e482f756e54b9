package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.cuda.CudaBackend;
import io.radixlm.cuda.Cublas;
import io.radixlm.cuda.CudaDevice;
import io.radixlm.engine.LlmEngine;
import io.radixlm.model.ModelConfig;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * `radixlm bench`: measures the copy bandwidth and GEMM rate of this GPU, then the items on random
 * bf16 weights of real shapes ({@link ModelShapes}):
 * 1 decode at batch 1 per shape; 2 decode at batch 16/64/256 × context 1k/8k (Llama-3.2-1B shape);
 * 3 the decode attention kernels alone; 4 prefill of 512, 2k, 8k tokens; 5 prefix cache TTFT cold vs hit
 * (8B and 1B shapes) and an agent trace (1B shape), through the engine; 6 nano-vllm's throughput workload (Qwen3-0.6B shape);
 * 7 (on request) the linear layers of a decode step alone, GEMV kernel vs cuBLAS, at 1 and 8 rows (every shape);
 * 8 (on request) the GPU time of each op of a decode step, a prefill and a prefix-hit step.
 * Every case is guarded: one that fails is reported and the rest go on; once maxSeconds have passed the
 * remaining cases are skipped and listed.
 */
public final class BenchRunner {
    private final BenchOptions options;
    private final Consumer<String> log;
    private final long deadlineNanos;
    private final long startNanos = System.nanoTime();
    private final List<Measurement> measurements = new ArrayList<>();
    private final ArrayNode errors = JsonNodeFactory.instance.arrayNode();
    private final ArrayNode skipped = JsonNodeFactory.instance.arrayNode();
    private Ceilings ceilings;

    private BenchRunner(BenchOptions options, Consumer<String> log) {
        this.options = options;
        this.log = log;
        this.deadlineNanos = startNanos + (long) (options.maxSeconds() * 1e9);
    }

    /** Runs the chosen items; throws CudaUnavailableException (before measuring anything) when there is no usable GPU. */
    public static BenchReport run(BenchOptions options, Consumer<String> log) {
        BenchRunner runner = new BenchRunner(options, log);
        String gpu;
        try (CudaDevice device = CudaDevice.open()) {
            gpu = device.name();
            log.accept("bench on " + gpu + ": measuring copy bandwidth and bf16 GEMM rate");
            try {
                runner.ceilings = Ceilings.measure(device);
                log.accept(String.format("ceilings: copy %.2f TB/s, bf16 GEMM %.0f TFLOP/s",
                        runner.ceilings.copyBytesPerSecond() / 1e12, runner.ceilings.gemmFlopsPerSecond() / 1e12));
            } catch (RuntimeException e) { // every item then reports that it has nothing to compare with
                runner.recordError("ceilings", "copy bandwidth and GEMM rate", e.toString());
            }
            if (options.items().contains(3)) runner.attention(device);
            if (options.items().contains(7)) runner.linear(device);
        }
        if (options.items().contains(1)) runner.decodeBatch1();
        if (options.items().contains(4)) runner.prefill();
        if (options.items().contains(5)) runner.prefixCache();
        if (options.items().contains(6)) runner.throughput();
        if (options.items().contains(2)) runner.decodeBatched();
        if (options.items().contains(8)) runner.profile();
        double seconds = (System.nanoTime() - runner.startNanos) / 1e9;
        return new BenchReport(gpu, Instant.now().toString(), options, runner.ceilings, List.copyOf(runner.measurements),
                runner.errors, runner.skipped, seconds);
    }

    private void decodeBatch1() {
        int steps = options.quick() ? 30 : 200;
        for (String shape : ModelShapes.names()) {
            ModelConfig c = ModelShapes.byName(shape);
            guard("decode_b1", shape, () -> {
                try (CudaBackend gpu = DecodeBench.backend(c, 1, 1024)) {
                    return List.of(DecodeBench.run("decode_b1", shape, gpu, 1, 1024, steps, ceilings));
                }
            });
        }
        // a long context: the attention reads as many bytes as a fifth (8B) to most (1B) of the weights
        for (String shape : List.of(ModelShapes.LLAMA_8B, ModelShapes.LLAMA_1B)) {
            guard("decode_b1_long", shape, () -> {
                try (CudaBackend gpu = DecodeBench.backend(ModelShapes.byName(shape), 1, LONG_CONTEXT)) {
                    return List.of(DecodeBench.run("decode_b1_long", shape, gpu, 1, LONG_CONTEXT, steps / 2, ceilings));
                }
            });
        }
    }

    /** The context of item 1's long-context decode, as item 3's batch-1 attention. */
    private static final int LONG_CONTEXT = 32768;

    /** Op by op: decode at batch 1 (every shape) and 64 (1B); prefill 8k and the prefix-hit step (8B, 1B). */
    private void profile() {
        for (String shape : ModelShapes.names()) {
            boolean big = !shape.equals(ModelShapes.QWEN3_06B);
            guard("profile", shape, () -> {
                List<Measurement> out = new ArrayList<>();
                try (CudaBackend gpu = DecodeBench.backend(ModelShapes.byName(shape), 64, 8192)) {
                    out.add(ProfileBench.decode(shape, gpu, 1, 1024, ceilings));
                    if (shape.equals(ModelShapes.LLAMA_1B)) out.add(ProfileBench.decode(shape, gpu, 64, 1024, ceilings));
                    if (big) {
                        out.add(ProfileBench.prefixHit(shape, gpu, 8128, 64, ceilings));
                        out.add(ProfileBench.prefill(shape, gpu, 8192, ceilings));
                    }
                }
                return out;
            });
        }
    }

    private void decodeBatched() {
        String shape = ModelShapes.LLAMA_1B;
        int steps = options.quick() ? 10 : 40;
        guard("decode_batch", shape, () -> {
            List<Measurement> out = new ArrayList<>();
            try (CudaBackend gpu = DecodeBench.backend(ModelShapes.byName(shape), 256, 8192)) {
                for (int context : new int[] {1024, 8192}) {
                    for (int batch : new int[] {16, 64, 256}) {
                        String label = shape + ", batch " + batch + ", context " + context;
                        if (expired(label)) continue;
                        guard("decode_batch", label, () -> List.of(
                                DecodeBench.run("decode_batch", shape, gpu, batch, context, steps, ceilings)));
                    }
                }
            }
            return out;
        });
    }

    private void attention(CudaDevice device) {
        int[][] cases = {{1, 32768}, {32, 8192}, {128, 2048}};
        for (String shape : List.of(ModelShapes.LLAMA_8B, ModelShapes.LLAMA_1B)) {
            for (int[] bc : cases) {
                String label = shape + ", batch " + bc[0] + ", context " + bc[1];
                guard("decode_attention", label, () -> List.of(
                        AttentionBench.run(device, shape, ModelShapes.byName(shape), bc[0], bc[1], ceilings)));
            }
        }
    }

    private void linear(CudaDevice device) {
        int reps = options.quick() ? 5 : 20;
        try (Cublas cublas = new Cublas(device)) {
            for (String shape : List.of(ModelShapes.LLAMA_8B, ModelShapes.LLAMA_1B, ModelShapes.QWEN3_06B)) {
                for (LinearBench.Shape linear : LinearBench.linears(ModelShapes.byName(shape))) {
                    for (int rows : new int[] {1, 8}) {
                        String label = shape + " " + linear.name() + ", rows " + rows;
                        guard("linear", label, () -> List.of(LinearBench.run(device, cublas, shape, linear, rows, reps, ceilings)));
                    }
                }
            }
        }
    }

    private void prefill() {
        int reps = options.quick() ? 2 : 3;
        for (String shape : List.of(ModelShapes.LLAMA_8B, ModelShapes.LLAMA_1B, ModelShapes.QWEN3_06B)) {
            guard("prefill", shape, () -> {
                List<Measurement> out = new ArrayList<>();
                try (CudaBackend gpu = DecodeBench.backend(ModelShapes.byName(shape), 1, 8192)) {
                    for (int n : new int[] {8192, 2048, 512}) { // largest first: the step buffers are sized once
                        String label = shape + ", " + n + " tokens";
                        if (expired(label)) continue;
                        guard("prefill", label, () -> List.of(PrefillBench.run(shape, gpu, n, reps, ceilings)));
                    }
                }
                return out;
            });
        }
    }

    /** TTFT cold vs hit on the 8B shape (the goal's) and the 1B shape; the agent trace on the 1B shape. */
    private void prefixCache() {
        for (String shape : List.of(ModelShapes.LLAMA_8B, ModelShapes.LLAMA_1B)) {
            boolean agent = shape.equals(ModelShapes.LLAMA_1B);
            guard("prefix_cache", shape, () -> {
                try (LlmEngine engine = EngineBench.engine(ModelShapes.byName(shape), 8192, 8192, 16)) {
                    guard("prefix_hit", shape, () -> List.of(EngineBench.prefixHit(engine, shape, 8192)));
                    int turns = options.quick() ? 5 : 20;
                    if (agent && !expired("agent_trace: " + shape)) {
                        guard("agent_trace", shape, () -> List.of(EngineBench.agentTrace(engine, shape, turns, 1024, 32)));
                    }
                }
                return List.of();
            });
        }
    }

    private void throughput() {
        String shape = ModelShapes.QWEN3_06B;
        guard("nanovllm", shape, () -> {
            ModelConfig c = ModelShapes.byName(shape);
            NanoVllmWorkload workload = options.quick()
                    ? NanoVllmWorkload.generate(64, 100, 256, c.vocabSize(), 0)
                    : NanoVllmWorkload.standard(c.vocabSize(), 0);
            try (LlmEngine engine = EngineBench.engine(c, 256 * 2048 / DecodeBench.PAGE_SIZE, 8192, 256)) {
                return List.of(EngineBench.throughput(engine, shape, workload));
            }
        });
    }

    /** Runs one case unless time is up; a failure is logged and recorded, and the bench goes on. */
    private void guard(String item, String label, Supplier<List<Measurement>> body) {
        if (expired(item + ": " + label)) return;
        if (ceilings == null) {
            recordError(item, label, "the ceilings were not measured");
            return;
        }
        try {
            for (Measurement m : body.get()) {
                measurements.add(m);
                log.accept(String.format("%-16s %-48s %s", m.item(), m.label(), m.summary()));
            }
        } catch (Throwable t) { // one broken case (CUDA error, out of memory) must not cost the others
            recordError(item, label, t + where(t));
        }
    }

    /** The top frames of t (and of its cause), so that a failure on a machine we cannot reach can be located. */
    private static String where(Throwable t) {
        StringBuilder at = new StringBuilder();
        StackTraceElement[] frames = t.getStackTrace();
        for (int i = 0; i < Math.min(6, frames.length); i++) at.append(" at ").append(frames[i]);
        if (t.getCause() != null) at.append(" caused by ").append(t.getCause());
        return at.toString();
    }

    private void recordError(String item, String label, String message) {
        errors.addObject().put("item", item).put("case", label).put("error", message);
        log.accept(String.format("%-16s %-48s FAILED: %s", item, label, message));
    }

    /** True (and the case is listed as skipped) once the time limit has passed. */
    private boolean expired(String what) {
        if (System.nanoTime() < deadlineNanos) return false;
        skipped.add(what);
        log.accept("skipped (over --max-seconds " + options.maxSeconds() + "): " + what);
        return true;
    }
}
