package io.radixlm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** logits, tokenize, info and chat end to end, against fixtures written by transformers and tokenizers. */
class OtherCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MODEL = CliRun.goldenModel("llama3_gqa");

    @Test
    void logitsMatchTransformers(@TempDir Path dir) throws IOException {
        JsonNode sequence = JSON.readTree(MODEL.resolve("reference.json").toFile()).get("sequences").get(1);
        assertEquals(7, sequence.get("length").asInt());
        Path out = dir.resolve("logits.npy");
        CliRun run = CliRun.of("logits", "--model", MODEL.toString(), "--prompt-ids",
                GenerateCommandTest.csv(GenerateCommandTest.ints(sequence.get("ids"))), "--out", out.toString(),
                "--backend", "cpu");
        assertEquals(0, run.exitCode(), run.toString());
        byte[] ours = Files.readAllBytes(out);
        byte[] reference = Files.readAllBytes(MODEL.resolve(sequence.get("logits").asText()));
        int dataStart = 10 + Short.toUnsignedInt(ByteBuffer.wrap(reference, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort());
        assertArrayEquals(java.util.Arrays.copyOf(reference, dataStart), java.util.Arrays.copyOf(ours, dataStart),
                "same .npy header as numpy wrote");
        assertEquals(reference.length, ours.length);
        ByteBuffer a = ByteBuffer.wrap(ours).order(ByteOrder.LITTLE_ENDIAN).position(dataStart);
        ByteBuffer b = ByteBuffer.wrap(reference).order(ByteOrder.LITTLE_ENDIAN).position(dataStart);
        double maxDiff = 0;
        double maxRef = 0;
        while (b.hasRemaining()) {
            float ref = b.getFloat();
            maxDiff = Math.max(maxDiff, Math.abs(a.getFloat() - ref));
            maxRef = Math.max(maxRef, Math.abs(ref));
        }
        assertTrue(maxDiff <= 1e-3 * maxRef, "max |diff| " + maxDiff + " vs max |ref| " + maxRef);
    }

    @Test
    void tokenizeEqualsHuggingFaceTokenizers() throws IOException {
        Path tokenizerDir = CliRun.GOLDEN.resolve("tokenizers").resolve("spm_bytefallback");
        JsonNode cases = JSON.readTree(tokenizerDir.resolve("cases.json").toFile()).get("cases");
        int numChecked = 0;
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            if (text.isEmpty() || text.startsWith("-")) continue; // picocli would read a leading '-' as an option
            CliRun run = CliRun.of("tokenize", "--tokenizer", tokenizerDir.resolve("tokenizer.json").toString(),
                    "--text", text, "--json");
            assertEquals(0, run.exitCode(), run.toString());
            JsonNode out = JSON.readTree(run.out().strip());
            assertArrayEquals(GenerateCommandTest.ints(c.get("ids")), GenerateCommandTest.ints(out.get("ids")), text);
            assertEquals(c.get("decoded").asText(), out.get("text").asText(), text);
            numChecked++;
        }
        assertTrue(numChecked >= 5, "checked " + numChecked);
    }

    @Test
    void infoComputesKvBytesFromTheConfig() {
        // llama3_gqa: 3 layers, 2 kv heads, head_dim 32 -> 2*3*2*32 = 384 elements per token
        CliRun run = CliRun.of("info", "--model", MODEL.toString(), "--context", "100", "--batch", "4");
        assertEquals(0, run.exitCode(), run.toString());
        assertTrue(run.out().contains("KV bytes/token:  768 (bf16), 1,536 (float32)"), run.out());
        assertTrue(run.out().contains("300.00 KiB (bf16), 600.00 KiB (float32) for 100 tokens x batch 4"), run.out());
        assertTrue(run.out().contains("llama (GQA, tied embeddings"), run.out());
    }

    @Test
    void chatShowsCachedPromptTokensPerTurn(@TempDir Path dir) throws IOException {
        Path stories = io.radixlm.convert.ModelInstaller.ensureStories15M(
                io.radixlm.convert.ModelInstaller.defaultHome(), line -> { });
        Path model = Files.createDirectories(dir.resolve("chatty"));
        for (String name : new String[] {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"}) {
            Files.copy(stories.resolve(name), model.resolve(name));   // a copy: JUnit warns about links out of @TempDir
        }
        Files.writeString(model.resolve("tokenizer_config.json"), """
                {"bos_token": "<s>", "eos_token": "</s>", "chat_template":
                 "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"}
                """);
        String input = "Tell me a story about a little dog who finds a red ball in the big green park.\n"
                + "What happened next?\n/exit\n";
        InputStream stdin = System.in;
        CliRun run;
        try {
            System.setIn(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
            run = CliRun.of("chat", "--model", model.toString(), "--temperature", "0", "--max-tokens", "20");
        } finally {
            System.setIn(stdin);
        }
        assertEquals(0, run.exitCode(), run.toString());
        Matcher turns = Pattern.compile("\\[(\\d+) of (\\d+) prompt tokens from cache]").matcher(run.out());
        assertTrue(turns.find(), run.toString());
        assertEquals(0, Integer.parseInt(turns.group(1)), "the first turn finds an empty cache");
        assertTrue(turns.find(), run.toString());
        int cached = Integer.parseInt(turns.group(1));
        assertTrue(cached >= 16 && cached % 16 == 0 && cached < Integer.parseInt(turns.group(2)),
                "second turn reuses whole pages of the first: " + run);
    }
}
