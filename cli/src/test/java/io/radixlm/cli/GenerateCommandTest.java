package io.radixlm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** generate end to end on the golden model, against transformers' greedy tokens and the prefix cache contract. */
class GenerateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = CliRun.goldenModel("llama3_gqa").toString();

    @Test
    void mixedPromptsKeepTheirCommandLineOrder() {
        CommandLine cmd = Main.newCommandLine();
        cmd.parseArgs("generate", "--prompt-ids", "5,6", "--prompt", "first text", "--prompt-ids", "7",
                "--prompt", "second text");
        GenerateCommand generate = cmd.getSubcommands().get("generate").getCommand();
        List<String> seen = new ArrayList<>();
        for (GenerateCommand.Prompt p : generate.prompts) {
            seen.add(p.text != null ? p.text : java.util.Arrays.toString(p.ids.ids()));
        }
        assertEquals(List.of("[5, 6]", "first text", "[7]", "second text"), seen);
    }

    @Test
    void greedyJsonEqualsTransformersTokens() throws IOException {
        JsonNode greedy = JSON.readTree(CliRun.goldenModel("llama3_gqa").resolve("reference.json").toFile()).get("greedy");
        int[] expected = ints(greedy.get("tokens"));
        CliRun run = CliRun.of("generate", "--model", MODEL, "--prompt-ids", csv(ints(greedy.get("prompt"))),
                "--temperature", "0", "--ignore-eos", "--max-tokens", Integer.toString(expected.length), "--json");
        assertEquals(0, run.exitCode(), run.toString());
        JsonNode out = JSON.readTree(run.out().strip());
        assertArrayEquals(expected, ints(out.get("token_ids")));
        assertEquals(greedy.get("prompt").size(), out.get("prompt_tokens").asInt());
        assertEquals("length", out.get("finish_reason").asText());
        for (String field : List.of("text", "cached_tokens", "ttft_ms", "tpot_ms", "cache")) {
            assertTrue(out.has(field), field + " missing in " + out);
        }
        for (String field : List.of("outcome", "cached_tokens", "diverged_at", "prompt_token", "cached_token", "message")) {
            assertTrue(out.get("cache").has(field), field + " missing in " + out);
        }
    }

    @Test
    void secondPromptSharingA64TokenPrefixReports64CachedTokens() throws IOException {
        JsonNode[] outs = runPair(70, 80, 64);
        assertEquals(0, outs[0].get("cached_tokens").asInt());
        assertEquals(64, outs[1].get("cached_tokens").asInt(), outs[1].toString());
    }

    @Test
    void divergenceInsideAPageIsExplained() throws IOException {
        // 64 + 6 shared tokens: four whole pages hit, and the report names position 70 and both tokens there
        JsonNode[] outs = runPair(100, 90, 70);
        JsonNode cache = outs[1].get("cache");
        assertEquals(64, outs[1].get("cached_tokens").asInt(), outs[1].toString());
        assertEquals("diverged", cache.get("outcome").asText(), cache.toString());
        assertEquals(70, cache.get("diverged_at").asInt());
        assertEquals(secondToken(70), cache.get("prompt_token").asInt());
        assertEquals(firstToken(70), cache.get("cached_token").asInt());
    }

    /** Runs a prompt of firstLength tokens, then one of secondLength sharing its first numShared. */
    private static JsonNode[] runPair(int firstLength, int secondLength, int numShared) throws IOException {
        int[] first = new int[firstLength];
        int[] second = new int[secondLength];
        for (int i = 0; i < firstLength; i++) first[i] = firstToken(i);
        for (int i = 0; i < secondLength; i++) second[i] = i < numShared ? firstToken(i) : secondToken(i);
        CliRun run = CliRun.of("generate", "--model", MODEL, "--prompt-ids", csv(first), "--prompt-ids", csv(second),
                "--temperature", "0", "--max-tokens", "4", "--ignore-eos", "--json");
        assertEquals(0, run.exitCode(), run.toString());
        String[] lines = run.out().strip().split("\n");
        assertEquals(2, lines.length, run.toString());
        return new JsonNode[] {JSON.readTree(lines[0]), JSON.readTree(lines[1])};
    }

    private static int firstToken(int position) { return (position * 37 + 11) % 384; }

    private static int secondToken(int position) { return (firstToken(position) + 1) % 384; }

    @Test
    void sameSeedSameTokens() throws IOException {
        String[] args = {"generate", "--model", MODEL, "--prompt-ids", "3,14,15,92", "--temperature", "1.0",
                "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", "99", "--max-tokens", "12", "--ignore-eos", "--json"};
        JsonNode a = JSON.readTree(CliRun.of(args).out().strip());
        JsonNode b = JSON.readTree(CliRun.of(args).out().strip());
        assertArrayEquals(ints(a.get("token_ids")), ints(b.get("token_ids")));
        assertEquals(99, a.get("seed").asLong());
    }

    @Test
    void streamsTextAndReportsMetricsOnStderr() {
        CliRun run = CliRun.of("generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40");
        assertEquals(0, run.exitCode(), run.toString());
        String expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. "
                + "One day, she saw a big, red ball in the sky.";
        assertTrue(run.out().startsWith(expected), run.toString());
        assertTrue(run.err().contains("[prompt 5 tokens, 0 cached"), run.toString());
        assertTrue(run.err().contains("TTFT"), run.toString());
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    static String csv(int[] ids) {
        StringJoiner joiner = new StringJoiner(",");
        for (int id : ids) joiner.add(Integer.toString(id));
        return joiner.toString();
    }
}
