package io.radixlm.cuda;

import io.radixlm.model.RopeConfig;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * v1 against v2 of silu_mul and rope_qk_norm_kv_write on the 8B shape, at an 8k prefill and a decode
 * step: milliseconds per launch (inside a replayed CUDA graph) and the bandwidth they reach (bytes each kernel must move, no more). The
 * bound only catches a pathological v2; the figures go to the log.
 */
@Tag("gpu")
@Tag("speed") // timings mean nothing under compute-sanitizer
class ElementwiseSpeedGpuTest {
    private static final int REPEATS = 20;

    @Test
    void siluMulV1AgainstV2() {
        CudaDevice device = GpuTestSupport.device();
        int intermediate = 14336;
        for (int numTokens : new int[] {8192, 1}) {
            long count = (long) numTokens * intermediate;
            try (DeviceMemory in = device.allocate(8 * count); DeviceMemory out = device.allocate(2 * count)) {
                in.fill((byte) 0x3c);
                double[] millis = new double[2];
                for (ElementwiseVariant variant : ElementwiseVariant.values()) {
                    SwigluKernel kernel = new SwigluKernel(device, variant);
                    kernel.launch(in, out, numTokens, intermediate);  // warm-up: module load, clocks
                    millis[variant.ordinal()] = graphMillis(device, () -> kernel.launch(in, out, numTokens, intermediate));
                }
                report("silu_mul", numTokens, 10 * count, millis);
                assertTrue(millis[1] < 1.5 * millis[0] + 0.01, "v2 much slower than v1");
            }
        }
    }

    @Test
    void ropeV1AgainstV2() {
        CudaDevice device = GpuTestSupport.device();
        var shape = new RopeKvWriteKernel.Shape(32, 8, 128, 8192 + 64);
        int qDim = 4096;
        int kvDim = 1024;
        double[] invFreq = new RopeConfig("llama3", 500000, 32, 1, 4, 8192).inverseFrequencies(128);
        for (int numTokens : new int[] {8192, 1}) {
            int[] positions = new int[numTokens];
            for (int t = 0; t < numTokens; t++) positions[t] = t;
            try (DeviceMemory qkv = device.allocate(4L * numTokens * (qDim + 2 * kvDim));
                 DeviceMemory positionsGpu = GpuTestSupport.upload(device, positions);
                 DeviceMemory slots = GpuTestSupport.upload(device, positions);
                 DeviceMemory invFreqGpu = device.allocate(8L * invFreq.length);
                 DeviceMemory qOut = device.allocate(4L * numTokens * qDim);
                 DeviceMemory kCache = device.allocate(2L * shape.numSlots() * kvDim);
                 DeviceMemory vCache = device.allocate(2L * shape.numSlots() * kvDim)) {
                qkv.fill((byte) 0x3c);
                invFreqGpu.copyFrom(invFreq);
                double[] millis = new double[2];
                for (ElementwiseVariant variant : ElementwiseVariant.values()) {
                    RopeKvWriteKernel kernel = new RopeKvWriteKernel(device, variant);
                    Runnable launch = () -> kernel.launch(qkv, null, positionsGpu, slots, invFreqGpu, null, null,
                            qOut, kCache, vCache, numTokens, shape, 1e-5f);
                    launch.run();
                    millis[variant.ordinal()] = graphMillis(device, launch);
                }
                // qkv f32 in, q f32 out, k and v bf16 out
                report("rope_qk_norm_kv_write", numTokens, (long) numTokens * (4L * (qDim + 2 * kvDim) + 4L * qDim + 4L * kvDim), millis);
                assertTrue(millis[1] < 1.5 * millis[0] + 0.01, "v2 much slower than v1");
            }
        }
    }

    /**
     * GPU milliseconds per launch, REPEATS launches replayed as one CUDA graph: timed on the stream, single
     * launches of a 1-token step would measure the host's launch time instead of the kernel.
     */
    private static double graphMillis(CudaDevice device, Runnable launch) {
        try (CudaGraph graph = CudaGraph.capture(device, () -> {
            for (int r = 0; r < REPEATS; r++) launch.run();
        })) {
            graph.replay();  // warm-up
            return device.timeMillis(graph::replay) / REPEATS;
        }
    }

    private static void report(String kernel, int numTokens, long bytes, double[] millis) {
        System.err.printf("[gpu-speed] %s 8B shape, %d tokens: v1 %.4f ms (%.2f TB/s), v2 %.4f ms (%.2f TB/s), x32 layers saves %.2f ms%n",
                kernel, numTokens, millis[0], bytes / millis[0] / 1e9, millis[1], bytes / millis[1] / 1e9, 32 * (millis[0] - millis[1]));
    }
}
