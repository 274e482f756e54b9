package io.radixlm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.engine.RequestOutput;
import io.radixlm.kv.CacheReport;

import java.util.Locale;

/** How a finished request is shown: one JSON line (--json) or one metrics line on stderr. */
final class OutputReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private OutputReport() { }

    /**
     * text, token_ids, prompt_tokens, cached_tokens, ttft_ms, tpot_ms, finish_reason, seed and cache
     * {outcome, cached_tokens, diverged_at, prompt_token, cached_token, message}, as one line.
     */
    static String json(RequestOutput output, long seed) {
        ObjectNode node = JSON.createObjectNode();
        node.put("text", output.text());
        ArrayNode ids = node.putArray("token_ids");
        for (int id : output.outputIds()) ids.add(id);
        node.put("prompt_tokens", output.promptTokens());
        node.put("cached_tokens", output.cachedTokens());
        node.put("ttft_ms", output.ttftMs());
        node.put("tpot_ms", output.tpotMs());
        node.put("finish_reason", output.finishReason() == null ? null : output.finishReason().jsonName());
        node.put("seed", seed);
        CacheReport report = output.cacheReport();
        if (report == null) {
            node.putNull("cache");
        } else {
            ObjectNode cache = node.putObject("cache");
            cache.put("outcome", report.outcome().name().toLowerCase(Locale.ROOT));
            cache.put("cached_tokens", report.cachedTokens());
            cache.put("diverged_at", report.divergedAt());
            cache.put("prompt_token", report.promptToken());
            cache.put("cached_token", report.cachedToken());
            cache.put("message", report.message());
        }
        return node.toString();
    }

    /** e.g. "[prompt 70 tokens, 64 cached (…), TTFT 12.1 ms, TPOT 4.2 ms (238.1 tokens/s), 256 tokens, length, seed 7]". */
    static String metricsLine(RequestOutput output, long seed) {
        CacheReport report = output.cacheReport();
        String cacheWhy = report == null ? "" : " (" + report.message() + ")";
        String rate = output.tpotMs() > 0
                ? String.format(Locale.ROOT, " (%.1f tokens/s)", 1000 / output.tpotMs()) : "";
        String finish = output.finishReason() == null ? "?" : output.finishReason().jsonName();
        return String.format(Locale.ROOT, "[prompt %d tokens, %d cached%s, TTFT %.1f ms, TPOT %.2f ms%s, %d tokens, %s, seed %d]",
                output.promptTokens(), output.cachedTokens(), cacheWhy, output.ttftMs(), output.tpotMs(), rate,
                output.outputIds().length, finish, seed);
    }
}
