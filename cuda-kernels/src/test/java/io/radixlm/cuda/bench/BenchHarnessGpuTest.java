package io.radixlm.cuda.bench;

import io.radixlm.cuda.CudaBackend;
import io.radixlm.cuda.Cublas;
import io.radixlm.cuda.CudaDevice;
import io.radixlm.cuda.CudaUnavailableException;
import io.radixlm.engine.LlmEngine;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.RopeConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every bench item on a tiny random-weight model, so that the gpu suite proves the harness before the
 * real (minutes-long) run: the ceilings are plausible for a data-centre GPU, decode and prefill produce
 * ids and finite figures, the prefix-cache case caches exactly the shared whole pages, and the workload
 * generates exactly the tokens it asked for.
 */
@Tag("gpu")
@Tag("speed")
class BenchHarnessGpuTest {
    private static final ModelConfig TINY = new ModelConfig("llama", 256, 512, 2, 4, 2, 64, 1000, 4096, 1e-5,
            RopeConfig.defaultRope(10000), true, false, false, 1, List.of(2), "bfloat16");

    private static Ceilings ceilings() {
        try (CudaDevice device = CudaDevice.open()) {
            return Ceilings.measure(device);
        } catch (CudaUnavailableException e) {
            Assumptions.abort("no usable GPU: " + e.getMessage());
            throw e;
        }
    }

    @Test
    void itemsRunOnATinyModel() {
        Ceilings ceilings = ceilings();
        assertTrue(ceilings.copyBytesPerSecond() > 1e11 && ceilings.copyBytesPerSecond() < 2e13, "copy " + ceilings);
        assertTrue(ceilings.gemmFlopsPerSecond() > 1e13 && ceilings.gemmFlopsPerSecond() < 5e15, "gemm " + ceilings);
        try (CudaBackend gpu = DecodeBench.backend(TINY, 4, 512)) {
            for (int batch : new int[] {1, 4}) {
                Measurement m = DecodeBench.run("decode_batch", "tiny", gpu, batch, 512, 5, ceilings);
                assertTrue(m.json().get("tokens_per_s").asDouble() > 0, m.summary());
                assertEquals(StepCost.decodeBytesPerStep(TINY, batch, 512), m.json().get("bytes_per_step").asLong());
            }
            Measurement prefill = PrefillBench.run("tiny", gpu, 512, 2, ceilings);
            assertTrue(prefill.json().get("mfu").asDouble() > 0 && prefill.json().get("mfu").asDouble() < 1, prefill.summary());
        }
        try (CudaDevice device = CudaDevice.open()) {
            Measurement m = AttentionBench.run(device, "tiny", TINY, 2, 1024, ceilings);
            double fraction = m.json().get("bandwidth_fraction").asDouble();
            assertTrue(fraction > 0 && fraction < 1.5, m.summary()); // small inputs may sit in L2
        }
    }

    @Test
    void linearItemTimesBothPathsOnATinyShape() {
        Ceilings ceilings = ceilings();
        try (CudaDevice device = CudaDevice.open(); Cublas cublas = new Cublas(device)) {
            for (int rows : new int[] {1, 8}) {
                Measurement m = LinearBench.run(device, cublas, "tiny", new LinearBench.Shape("o", 256, 1000), rows, 3, ceilings);
                assertTrue(m.json().get("gemv_kernel_used").asBoolean(), m.summary());
                assertTrue(m.json().get("us_gemv").asDouble() > 0 && m.json().get("us_cublas").asDouble() > 0, m.summary());
                assertTrue(m.json().get("rel_diff_vs_cublas").asDouble() < 1e-4, m.summary()); // both accumulate in f32
            }
        }
    }

    @Test
    void engineItemsOnATinyModel() {
        ceilings();
        try (LlmEngine engine = EngineBench.engine(TINY, 512, 1024, 16)) {
            Measurement hit = EngineBench.prefixHit(engine, "tiny", 256);
            assertEquals(0, hit.json().get("cold_cached_tokens").asInt(), hit.summary());
            assertEquals(192, hit.json().get("hit_cached_tokens").asInt(), hit.summary()); // 256 - 64, whole pages
            Measurement agent = EngineBench.agentTrace(engine, "tiny", 3, 100, 8);
            assertTrue(agent.json().get("hit_rate").asDouble() > 0.3, agent.summary());
            NanoVllmWorkload workload = NanoVllmWorkload.generate(6, 10, 40, TINY.vocabSize(), 1);
            Measurement throughput = EngineBench.throughput(engine, "tiny", workload);
            assertEquals(workload.totalOutputTokens(), throughput.json().get("output_tokens").asLong(), throughput.summary());
        }
    }
}
