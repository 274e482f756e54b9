package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.cuda.Cublas;
import io.radixlm.cuda.CudaDevice;
import io.radixlm.cuda.CudaGraph;
import io.radixlm.cuda.DeviceMemory;
import io.radixlm.cuda.GemvKernel;
import io.radixlm.cuda.RandomFillKernel;
import io.radixlm.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Item 7: one linear layer of a decode step alone, the GEMV kernel against cuBLAS, on random bf16 weights
 * of a real shape. Each is timed as a replayed CUDA graph of back-to-back launches (as a decode step runs
 * them) that cycles through enough copies of the weights to stay out of the 60 MB L2. Reported as bytes
 * moved (weights + x + y) ÷ time ÷ the measured copy bandwidth, and the two outputs' relative difference.
 */
final class LinearBench {
    /** Weight copies cycled through add up to at least this: each launch then reads from HBM, not L2. */
    private static final long MIN_ROTATION_BYTES = 256L << 20;
    private static final int MIN_LAUNCHES = 20;

    private LinearBench() { }

    /** One product y = x · wᵀ of the case on weight copy w (x and the shape are the case's). */
    private interface Product {
        void apply(DeviceMemory w, DeviceMemory y);
    }

    /** One linear layer's shape: y (rows, out) = x (rows, in) · w (out, in) ᵀ. */
    record Shape(String name, int in, int out) {
        Shape {
            if (in <= 0 || out <= 0) throw new IllegalArgumentException(name + ": in and out must be positive");
        }

        long weightBytes() { return 2L * in * out; }
    }

    /** The linears of a decode step of config, as CudaBackend runs them (q/k/v and gate/up fused). */
    static List<Shape> linears(ModelConfig c) {
        return List.of(new Shape("qkv", c.hiddenSize(), c.qDim() + 2 * c.kvDim()),
                new Shape("o", c.qDim(), c.hiddenSize()),
                new Shape("gate_up", c.hiddenSize(), 2 * c.intermediateSize()),
                new Shape("down", c.intermediateSize(), c.hiddenSize()),
                new Shape("lm_head", c.hiddenSize(), c.vocabSize()));
    }

    static Measurement run(CudaDevice device, Cublas cublas, String model, Shape shape, int rows, int reps,
                           Ceilings ceilings) {
        int copies = (int) Math.max(1, (MIN_ROTATION_BYTES + shape.weightBytes() - 1) / shape.weightBytes());
        int launches = Math.max(MIN_LAUNCHES, copies);
        List<DeviceMemory> weights = new ArrayList<>();
        try (DeviceMemory x = device.allocate(2L * rows * shape.in());
             DeviceMemory yGemv = device.allocate(4L * rows * shape.out());
             DeviceMemory yCublas = device.allocate(4L * rows * shape.out())) {
            RandomFillKernel fill = new RandomFillKernel(device);
            fill.bf16(x, (long) rows * shape.in(), 71, 0f, 1f);
            for (int i = 0; i < copies; i++) {
                weights.add(device.allocate(shape.weightBytes()));
                fill.bf16(weights.get(i), (long) shape.in() * shape.out(), 72 + i, 0f, 0.02f);
            }
            // the kernel itself at every row count it takes (Linear uses it only up to Linear.MAX_GEMV_ROWS)
            GemvKernel kernel = new GemvKernel(device);
            boolean tookGemv = GemvKernel.supports(rows, shape.in(), x.address(), weights.get(0).address());
            Product gemv = tookGemv ? (w, y) -> kernel.launch(x, w, y, rows, shape.in(), shape.out())
                    : (w, y) -> cublas.linear(x, w, y, rows, shape.in(), shape.out());
            Product cublasOnly = (w, y) -> cublas.linear(x, w, y, rows, shape.in(), shape.out());
            double gemvMillis = graphMillis(device, gemv, weights, yGemv, launches, reps) / launches;
            double cublasMillis = graphMillis(device, cublasOnly, weights, yCublas, launches, reps) / launches;
            gemv.apply(weights.get(0), yGemv);
            cublasOnly.apply(weights.get(0), yCublas);
            double difference = relativeDifference(yGemv.toFloats(rows * shape.out()), yCublas.toFloats(rows * shape.out()));
            return measurement(model, shape, rows, tookGemv, gemvMillis, cublasMillis, difference, ceilings);
        } finally {
            for (DeviceMemory w : weights) w.close();
        }
    }

    /** Milliseconds of one replay of a graph of launches products, the i-th on weight copy i mod copies. */
    private static double graphMillis(CudaDevice device, Product product, List<DeviceMemory> weights,
                                      DeviceMemory y, int launches, int reps) {
        try (CudaGraph graph = CudaGraph.capture(device, () -> {
            for (int i = 0; i < launches; i++) product.apply(weights.get(i % weights.size()), y);
        })) {
            return Timing.medianEventMillis(device, 2, reps, graph::replay);
        }
    }

    private static Measurement measurement(String model, Shape shape, int rows, boolean tookGemv, double gemvMillis,
                                           double cublasMillis, double difference, Ceilings ceilings) {
        long bytes = shape.weightBytes() + 2L * rows * shape.in() + 4L * rows * shape.out();
        double gemvFraction = bytes / (gemvMillis / 1e3) / ceilings.copyBytesPerSecond();
        double cublasFraction = bytes / (cublasMillis / 1e3) / ceilings.copyBytesPerSecond();
        ObjectNode json = JsonNodeFactory.instance.objectNode()
                .put("shape", model).put("linear", shape.name()).put("in", shape.in()).put("out", shape.out())
                .put("rows", rows).put("bytes", bytes).put("gemv_kernel_used", tookGemv)
                .put("us_gemv", gemvMillis * 1e3).put("us_cublas", cublasMillis * 1e3)
                .put("bandwidth_fraction_gemv", gemvFraction).put("bandwidth_fraction_cublas", cublasFraction)
                .put("speedup_vs_cublas", cublasMillis / gemvMillis).put("rel_diff_vs_cublas", difference);
        String label = String.format("%s %s (%d×%d), rows %d", model, shape.name(), shape.in(), shape.out(), rows);
        return new Measurement("linear", label, String.format(
                "gemv %.1f us (%.1f%% of bandwidth), cuBLAS %.1f us (%.1f%%), %.2fx; rel. diff %.1e",
                gemvMillis * 1e3, 100 * gemvFraction, cublasMillis * 1e3, 100 * cublasFraction,
                cublasMillis / gemvMillis, difference), json);
    }

    /** ‖a − b‖ / ‖b‖; NaN anywhere gives NaN. */
    private static double relativeDifference(float[] a, float[] b) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            diff += d * d;
            norm += (double) b[i] * b[i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-30));
    }
}
