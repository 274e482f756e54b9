package io.radixlm.cuda;

import io.radixlm.cuda.PagedAttentionKernel.Merge;
import io.radixlm.cuda.PagedAttentionKernel.Variant;
import io.radixlm.cuda.PagedAttentionKernel.V3Shape;
import io.radixlm.model.RopeConfig;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static io.radixlm.cuda.GpuTestSupport.device;
import static io.radixlm.cuda.GpuTestSupport.poisoned;
import static io.radixlm.cuda.GpuTestSupport.randomBf16Values;
import static io.radixlm.cuda.GpuTestSupport.randomFloats;
import static io.radixlm.cuda.GpuTestSupport.upload;
import static io.radixlm.cuda.GpuTestSupport.uploadBf16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The clustered decode attention that applies a 1-token step's q/k norm and RoPE itself
 * ({@link PagedAttentionKernel#launchWithRope}) against the two kernels it replaces: rope_qk_norm_kv_write_v2 (checked
 * against Java in RopeKvWriteKernelGpuTest) and then the clustered attention (checked against a float64 reference in
 * PagedAttentionGpuTest). The attention's output and the K/V cache must come out bit for bit the same.
 */
@Tag("gpu")
class ClusterRopeAttentionGpuTest {
    private static final int PAGE_SIZE = 16;
    private final Random random = new Random(7);

    @ParameterizedTest(name = "heads {0}/{1}, head_dim {2}, context {3}, bias {4}, q/k norm {5}")
    @CsvSource({
            // Qwen3-0.6B (group 2), Qwen3-8B (group 4), group 7 padded to 8, group 8 and MHA at head dim 64, MHA without norms
            "16, 8, 128, 1000, false, true",
            "16, 8, 128, 1, false, true",
            "16, 8, 128, 2, false, true",
            "16, 8, 128, 17, false, true",
            "16, 8, 128, 2048, false, true",
            "32, 8, 128, 777, false, true",
            "64, 8, 64, 1500, false, true",
            "28, 4, 128, 300, true, true",
            "8, 8, 64, 1000, true, true",
            "32, 8, 64, 129, false, true",
            "8, 8, 128, 64, true, false"})
    void givesTheBitsOfTheRopeKernelAndTheClusteredAttention(int numHeads, int numKvHeads, int headDim, int context,
                                                            boolean withBias, boolean withQkNorm) {
        CudaDevice device = device();
        assumeTrue(device.launchesClusters(), "thread-block clusters need compute capability 9.0: " + device.name());
        PagedAttentionKernel attention = new PagedAttentionKernel(device, Variant.V3, V3Shape.DEFAULT, Merge.SEPARATE, 128);
        int qDim = numHeads * headDim;
        int kvDim = numKvHeads * headDim;
        int width = qDim + 2 * kvDim;
        int pagesPerSeq = (context + PAGE_SIZE - 1) / PAGE_SIZE;
        int numPages = pagesPerSeq + 5;  // pages no one reads, as in a shared pool
        int numSlots = numPages * PAGE_SIZE;
        var layout = new PagedAttentionKernel.Layout(numHeads, numKvHeads, headDim, PAGE_SIZE, numPages, pagesPerSeq);
        assertTrue(attention.appliesRope(1, layout, context), "one token over " + context + " keys takes the _rope kernel");
        assertFalse(attention.appliesRope(2, layout, context), "two tokens do not");
        assertFalse(attention.appliesRope(1, layout, PagedAttentionKernel.CLUSTER_MAX_KEYS + 1), "nor past the clusters' keys");

        List<Integer> pages = new ArrayList<>();
        for (int p = 0; p < numPages; p++) pages.add(p);
        Collections.shuffle(pages, random);
        int[] table = new int[pagesPerSeq];
        for (int p = 0; p < pagesPerSeq; p++) table[p] = pages.get(p);
        int own = context - 1;
        int ownSlot = table[own / PAGE_SIZE] * PAGE_SIZE + own % PAGE_SIZE;
        float[] kInit = randomBf16Values(random, numSlots * kvDim, 1f);
        float[] vInit = randomBf16Values(random, numSlots * kvDim, 1f);
        float[] qkv = randomFloats(random, width, 2f);
        float[] bias = randomFloats(random, width, 0.5f);
        float[] qNorm = randomBf16Values(random, headDim, 2f);
        float[] kNorm = randomBf16Values(random, headDim, 2f);
        double[] invFreq = RopeConfig.defaultRope(1000000).inverseFrequencies(headDim);
        float eps = 1e-6f;

        try (DeviceMemory qkvGpu = upload(device, qkv); DeviceMemory biasGpu = upload(device, bias);
             DeviceMemory qNormGpu = uploadBf16(device, qNorm); DeviceMemory kNormGpu = uploadBf16(device, kNorm);
             DeviceMemory positions = upload(device, new int[] {own}); DeviceMemory tokenSeq = upload(device, new int[] {0});
             DeviceMemory slots = upload(device, new int[] {ownSlot}); DeviceMemory tables = upload(device, table);
             DeviceMemory invFreqGpu = device.allocate(8L * invFreq.length);
             DeviceMemory angles = poisoned(device, 4L * headDim);
             DeviceMemory q = poisoned(device, 4L * qDim);
             AttentionWorkspace workspace = AttentionWorkspace.forStep(device, 1, numHeads, headDim, context)) {
            invFreqGpu.copyFrom(invFreq);
            new FusedGemvKernel(device).ropeAngles(positions, invFreqGpu, angles, headDim);
            var ropeShape = new RopeKvWriteKernel.Shape(numHeads, numKvHeads, headDim, numSlots);
            var inputs = new PagedAttentionKernel.RopeInputs(qkvGpu, withBias ? biasGpu : null, withQkNorm ? qNormGpu : null,
                    withQkNorm ? kNormGpu : null, angles, slots, eps);
            for (boolean early : new boolean[] {true, false}) {
                String what = "context " + context + (early ? ", early loads" : ", waiting first");
                try (DeviceMemory kSeparate = uploadBf16(device, kInit); DeviceMemory vSeparate = uploadBf16(device, vInit);
                     DeviceMemory kFused = uploadBf16(device, kInit); DeviceMemory vFused = uploadBf16(device, vInit);
                     DeviceMemory outSeparate = poisoned(device, 2L * qDim); DeviceMemory outFused = poisoned(device, 2L * qDim)) {
                    new RopeKvWriteKernel(device, ElementwiseVariant.V2).launch(qkvGpu, withBias ? biasGpu : null, positions,
                            slots, invFreqGpu, withQkNorm ? qNormGpu : null, withQkNorm ? kNormGpu : null, q, kSeparate,
                            vSeparate, 1, ropeShape, eps, angles);
                    var splits = attention.launch(q, kSeparate, vSeparate, positions, tokenSeq, tables, 1, 1, layout,
                            workspace, null, outSeparate, early, context);
                    assertTrue(splits.outWritten(), what + ": the separate path runs in clusters too");
                    var fused = attention.launchWithRope(inputs, kFused, vFused, positions, tokenSeq, tables, layout,
                            workspace, outFused, early, context);
                    assertTrue(fused.outWritten(), what);
                    assertArrayEquals(outSeparate.toShorts(qDim), outFused.toShorts(qDim), what + ": attention out bits");
                    assertArrayEquals(kSeparate.toShorts(numSlots * kvDim), kFused.toShorts(numSlots * kvDim), what + ": K cache bits");
                    assertArrayEquals(vSeparate.toShorts(numSlots * kvDim), vFused.toShorts(numSlots * kvDim), what + ": V cache bits");
                    short[] out = outFused.toShorts(qDim);
                    for (int i = 0; i < qDim; i++) {
                        float x = Float.intBitsToFloat((out[i] & 0xffff) << 16);
                        assertTrue(Float.isFinite(x), what + ": out[" + i + "] = " + x);
                    }
                }
            }
            assertThrows(IllegalStateException.class, () -> attention.launchWithRope(inputs, q, q, positions, tokenSeq,
                    tables, layout, workspace, q, true, PagedAttentionKernel.CLUSTER_MAX_KEYS + 1));
        }
    }
}
