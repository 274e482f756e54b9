package io.radixlm.cuda;

import io.radixlm.cuda.PagedAttentionKernel.V3Shape;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The V3 shapes -Dradixlm.attention.v3 may name (no GPU needed): the Java list and the instantiations in
 * paged_attention.cu must agree, or a sweep would ask for a kernel the fatbin lacks.
 */
class PagedAttentionShapesTest {
    @Test
    void theJavaListOfV3ShapesIsTheListTheCudaSourceInstantiates() throws IOException {
        String source = Files.readString(Path.of("src/main/cuda/paged_attention.cu"));
        Matcher shapes = Pattern.compile(
                "PAGED_ATTENTION_V3_ENTRY\\(HD, G, (\\d+), (\\d+), (\\d+), (true|false), (true|false), (t?)(_fused)?\\)")
                .matcher(source);
        List<V3Shape> plain = new ArrayList<>();
        List<V3Shape> fused = new ArrayList<>();
        while (shapes.find()) {
            boolean transposed = Boolean.parseBoolean(shapes.group(4));
            assertEquals(transposed, shapes.group(6).equals("t"), "the name's suffix must say whether it is transposed");
            boolean isFused = Boolean.parseBoolean(shapes.group(5));
            assertEquals(isFused, shapes.group(7) != null, "the name's suffix must say whether it is fused");
            (isFused ? fused : plain).add(new V3Shape(Integer.parseInt(shapes.group(1)), Integer.parseInt(shapes.group(2)),
                    Integer.parseInt(shapes.group(3)), transposed));
        }
        Matcher mma = Pattern.compile(
                "PAGED_ATTENTION_MMA_ENTRY\\(HD, G, (\\d+), (\\d+), (\\d+), (true|false), (_fused)?\\)").matcher(source);
        while (mma.find()) {
            boolean isFused = Boolean.parseBoolean(mma.group(4));
            assertEquals(isFused, mma.group(5) != null, "the name's suffix must say whether it is fused");
            (isFused ? fused : plain).add(new V3Shape(Integer.parseInt(mma.group(1)), 1, Integer.parseInt(mma.group(2)), false,
                    Integer.parseInt(mma.group(3)), true));
        }
        assertEquals(PagedAttentionKernel.V3_SHAPES, plain);
        assertEquals(PagedAttentionKernel.V3_SHAPES, fused, "every V3 shape has a fused twin (-Dradixlm.attention.fusedReduce)");
    }

    @Test
    void v3SplitsFillTheirWaves() {
        // batch 1 on 8 KV heads, 132 SMs × 3 blocks: 48 splits (384 of 396 slots), not 99 (two full waves)
        assertEquals(48, PagedAttentionKernel.balancedSplits(8, 396, 256));
        // batch 32: 3 splits (768 of 792 slots) rather than 1 (256 of 396)
        assertEquals(3, PagedAttentionKernel.balancedSplits(256, 396, 256));
        // batch 128 at 4 blocks per SM: 1 split already fills 1024 of 1056 slots
        assertEquals(1, PagedAttentionKernel.balancedSplits(1024, 528, 8));
        // batch 32 at 4 blocks per SM: 2 splits, one whole wave (512 of 528)
        assertEquals(2, PagedAttentionKernel.balancedSplits(256, 528, 256));
        // the workspace's limit wins (the closest count under it), and one split is the least
        assertEquals(1, PagedAttentionKernel.balancedSplits(8, 396, 1));
        assertEquals(40, PagedAttentionKernel.balancedSplits(8, 396, 40));
        assertEquals(1, PagedAttentionKernel.balancedSplits(100_000, 396, 256));
    }

    @Test
    void longContextDecodeNeedsManyDecodeTokensAndLongTableRows() {
        var wide = new PagedAttentionKernel.Layout(32, 8, 64, 16, 100_000, 256);   // rows of 4,096 keys
        var narrow = new PagedAttentionKernel.Layout(32, 8, 64, 16, 100_000, 128); // 2,048 keys
        assertTrue(PagedAttentionKernel.isLongContextDecode(64, wide, true));
        assertTrue(PagedAttentionKernel.isLongContextDecode(256, wide, true));
        assertTrue(!PagedAttentionKernel.isLongContextDecode(63, wide, true), "too few tokens");
        assertTrue(!PagedAttentionKernel.isLongContextDecode(256, narrow, true), "rows too short");
        assertTrue(!PagedAttentionKernel.isLongContextDecode(256, wide, false), "not a decode-only launch");
        assertTrue(PagedAttentionKernel.isLongContextDecode(64, new PagedAttentionKernel.Layout(32, 8, 64, 5, 100_000, 820), true),
                "4,100 keys in pages of 5");
    }

    @Test
    void parsesTheNamesOfBuiltShapesOnly() {
        assertEquals(new V3Shape(8, 2, 2, false), V3Shape.parse("W8U2B2"));
        assertEquals(new V3Shape(4, 4, 2, true), V3Shape.parse("w4u4b2t"));
        assertEquals(V3Shape.DEFAULT, V3Shape.parse(" w4u4b2 "));
        assertEquals(V3Shape.TENSOR_CORES, V3Shape.parse("W4U1B2S3M"));
        assertEquals(0, V3Shape.DEFAULT.sharedBytes(128), "register buffers need no ring");
        V3Shape tensorCores = V3Shape.parse("w4u1b2s3m");
        assertEquals(new V3Shape(4, 1, 2, false, 3, true), tensorCores);
        assertEquals(3 * 4 * 16 * 2 * 136 * 2, tensorCores.sharedBytes(128), "3 stages of 4 warps × 16 keys of K and V, rows padded");
        assertTrue(tensorCores.supports(64) && tensorCores.supports(128) && !tensorCores.supports(96));
        assertThrows(IllegalArgumentException.class, () -> new V3Shape(4, 1, 2, false, 0, true), "tensor cores need a ring");
        assertThrows(IllegalArgumentException.class, () -> new V3Shape(4, 4, 2, false, 1, true), "a ring of one stage");
        assertThrows(IllegalArgumentException.class, () -> new V3Shape(4, 4, 2, false, 3, false), "no CUDA-core kernel has a ring");
        assertTrue(PagedAttentionKernel.V3_SHAPES.contains(V3Shape.DEFAULT));
        for (V3Shape shape : PagedAttentionKernel.V3_SHAPES) assertEquals(shape, V3Shape.parse(shape.toString()));
        assertThrows(IllegalArgumentException.class, () -> V3Shape.parse("W3U2B4"), "not instantiated");
        assertThrows(IllegalArgumentException.class, () -> V3Shape.parse("W4U2"), "malformed");
        assertThrows(IllegalArgumentException.class, () -> V3Shape.parse("W8U2B2T"), "built without the transposed sums");
        assertThrows(IllegalArgumentException.class, () -> new V3Shape(0, 2, 4, false), "no warps");
    }
}
