package io.radixlm.cuda;

import io.radixlm.backend.CpuBackend;
import io.radixlm.model.ConfigLoader;
import io.radixlm.model.ModelConfig;
import io.radixlm.model.SafetensorsWeights;
import io.radixlm.testing.Golden;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `verify` on every golden fixture: all ops within bf16 tolerance, greedy tokens agree except at near-ties. */
@Tag("gpu")
class GpuVerifierGpuTest {

    static Stream<String> models() { return Golden.MODEL_NAMES.stream(); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void goldenModelPassesVerify(String model) {
        GpuTestSupport.device();
        Path dir = Golden.modelDir(model);
        ModelConfig config = ConfigLoader.load(dir);
        List<int[]> prompts = List.of(Golden.modelReference(model).sequence(7).ids(),
                Golden.modelReference(model).sequence(33).ids());
        try (SafetensorsWeights weights = SafetensorsWeights.open(dir);
             CpuBackend cpu = new CpuBackend(config, weights);
             CudaBackend gpu = new CudaBackend(config, weights, 0.9)) {
            GpuVerifier.Report report = GpuVerifier.verify(cpu, gpu, prompts, 24, GpuVerifier.DEFAULT_TOLERANCE);
            System.err.println("[gpu-test] verify " + model + ":\n" + report.toText());
            assertEquals(1 + config.numLayers() * 2 + 2, report.ops().size(), "embedding, attention and MLP per layer, final norm, logits");
            assertEquals(7 + 33 + 2 * 24, report.numCompared());
            assertTrue(report.passed(), report.toText());
        }
    }
}
