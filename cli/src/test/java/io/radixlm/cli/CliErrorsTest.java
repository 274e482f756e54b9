package io.radixlm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each user error gives exit code 2 and one clear message, never a stack trace. */
class CliErrorsTest {
    private static final String MODEL = CliRun.goldenModel("llama3_gqa").toString(); // vocab 384, context 512

    @Test
    void helpListsTheCommands() {
        CliRun run = CliRun.of("--help");
        assertEquals(0, run.exitCode(), run.toString());
        for (String command : List.of("generate", "chat", "logits", "tokenize", "info", "convert", "verify")) {
            assertTrue(run.out().contains("  " + command + " "), command + " missing in\n" + run.out());
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--temperature=-1      | --temperature must be >= 0",
        "--temperature=NaN     | --temperature must be >= 0",
        "--top-p=0             | --top-p must be in (0, 1]",
        "--top-p=1.5           | --top-p must be in (0, 1]",
        "--top-k=-1            | --top-k must be >= 0",
        "--min-p=1.5           | --min-p must be in [0, 1]",
        "--min-p=-0.1          | --min-p must be in [0, 1]",
        "--max-tokens=0        | --max-tokens must be at least 1",
        "--temperature=hot     | Invalid value for option '--temperature'",
        "--backend=tpu         | unknown backend 'tpu'",
    })
    void badFlagValues(String flag, String message) {
        assertUserError(message, "generate", "--model", MODEL, "--prompt-ids", "1,2,3", flag);
    }

    /** Without a GPU, asking for CUDA is one clear user error (the GPU machine runs these paths for real). */
    @Test
    void cudaOnAMachineWithoutAGpuIsOneClearError() {
        org.junit.jupiter.api.Assumptions.assumeFalse(Files.exists(Path.of("/dev/nvidia0")),
                "this machine has a GPU: the no-GPU error path cannot be reached here");
        assertUserError("the CUDA backend cannot run here", "verify", "--model", MODEL, "--prompt-ids", "1,2,3");
        assertUserError("the CUDA backend cannot run here", "generate", "--backend", "cuda", "--model", MODEL,
                "--prompt-ids", "1,2,3");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "1,x,3   | 'x' (item 2) is not an integer",
        "1,,3    | '' (item 2) is not an integer",
        "1,-5    | token id -5 is negative",
        "1,384   | token id 384 at position 1 is outside the vocabulary [0, 384)",
    })
    void badTokenIds(String ids, String message) {
        assertUserError(message, "generate", "--model", MODEL, "--prompt-ids", ids);
        assertUserError(message, "logits", "--model", MODEL, "--prompt-ids", ids, "--out", "x.npy");
    }

    @Test
    void promptLongerThanTheContext() {
        StringJoiner ids = new StringJoiner(",");
        for (int i = 0; i < 513; i++) ids.add(Integer.toString(i % 384));
        assertUserError("513 tokens, longer than the model's context of 512", "generate", "--model", MODEL,
                "--prompt-ids", "1,2", "--prompt-ids", ids.toString());
    }

    @Test
    void textPromptWithoutTokenizer() {
        assertUserError("has no tokenizer.json", "generate", "--model", MODEL, "--prompt", "hello");
    }

    @Test
    void chatFlagNeedsTextPrompts() {
        assertUserError("--chat", "generate", "--model", MODEL, "--chat", "--prompt-ids", "1,2");
    }

    @Test
    void cudaBackendThatCannotRunHere() {
        CliRun run = CliRun.of("generate", "--model", MODEL, "--prompt-ids", "1,2", "--backend", "cuda");
        // The CUDA backend may exist and run on a GPU machine; where it cannot, it is a user error.
        if (run.exitCode() != 0) assertUserError(run, "CUDA");
    }

    @Test
    void missingPromptAndUnknownFlag() {
        assertUserError("--prompt", "generate", "--model", MODEL);
        assertUserError("--bogus", "generate", "--model", MODEL, "--prompt-ids", "1", "--bogus");
    }

    @Test
    void missingModelDirectory(@TempDir Path dir) {
        assertUserError("not found", "generate", "--model", dir.resolve("nope").toString(), "--prompt-ids", "1");
        assertUserError("not found", "info", "--model", dir.resolve("nope").toString());
    }

    @Test
    void truncatedSafetensors(@TempDir Path dir) throws IOException {
        Path model = copyGoldenModel(dir);
        Path weights = model.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertUserError("model.safetensors", "generate", "--model", model.toString(), "--prompt-ids", "1");
    }

    @Test
    void headerLengthPastTheEnd(@TempDir Path dir) throws IOException {
        Path model = copyGoldenModel(dir);
        byte[] header = new byte[16];
        header[0] = (byte) 0xff;
        header[1] = (byte) 0xff; // header length 65535 in a 16-byte file
        Files.write(model.resolve("model.safetensors"), header);
        assertUserError("model.safetensors", "info", "--model", model.toString());
    }

    @Test
    void chatNeedsAChatTemplate() {
        assertUserError("no chat template", "chat", "--model", MODEL);
    }

    @Test
    void logitsNeedsAnExistingOutputDirectory(@TempDir Path dir) {
        assertUserError("does not exist", "logits", "--model", MODEL, "--prompt-ids", "1,2",
                "--out", dir.resolve("missing").resolve("x.npy").toString());
    }

    @Test
    void tokenizeErrors(@TempDir Path dir) throws IOException {
        assertUserError("not found", "tokenize", "--tokenizer", dir.resolve("none.json").toString(), "--text", "a");
        assertUserError("not found", "tokenize", "--model", MODEL, "--text", "a"); // no tokenizer.json there
        Path broken = Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        assertUserError("tokenizer", "tokenize", "--tokenizer", broken.toString(), "--text", "a");
        assertUserError("mutually exclusive", "tokenize", "--tokenizer", broken.toString(), "--model", MODEL, "--text", "a");
    }

    @Test
    void convertNeedsItsFiles(@TempDir Path dir) {
        assertUserError("--checkpoint: file not found", "convert", "llama2c", "--checkpoint", dir.resolve("a.bin").toString(),
                "--tokenizer", dir.resolve("t.bin").toString(), "--out", dir.resolve("out").toString());
        assertUserError("--out", "convert", "llama2c", "--checkpoint", "a.bin", "--tokenizer", "t.bin");
    }

    @Test
    void infoRejectsBadSizes() {
        assertUserError("--batch must be at least 1", "info", "--model", MODEL, "--batch", "0");
        assertUserError("--context must be at least 1", "info", "--model", MODEL, "--context", "-3");
    }

    private static void assertUserError(String expectedMessage, String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        CliRun run = CliRun.of(all.toArray(String[]::new));
        assertUserError(run, expectedMessage);
    }

    private static void assertUserError(CliRun run, String expectedMessage) {
        assertEquals(2, run.exitCode(), run.toString());
        assertTrue(run.err().contains(expectedMessage), "expected '" + expectedMessage + "' in " + run);
        assertFalse(run.err().contains("\tat "), "no stack trace: " + run);
        assertFalse(run.err().contains("internal error"), run.toString());
    }

    static Path copyGoldenModel(Path dir) throws IOException {
        Path model = Files.createDirectories(dir.resolve("model"));
        try (var files = Files.list(CliRun.goldenModel("llama3_gqa"))) {
            for (Path f : files.toList()) Files.copy(f, model.resolve(f.getFileName()));
        }
        return model;
    }
}
