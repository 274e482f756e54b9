package io.radixlm.engine;

import io.radixlm.kv.CacheReport;

/**
 * The result of one request, with its metrics.
 *
 * @param outputIds     generated token ids (stop string or EOS token included if it was sampled)
 * @param text          decoded output text (cut before a stop string; empty without a tokenizer)
 * @param promptTokens  number of prompt tokens
 * @param cachedTokens  prompt tokens whose KV came from the prefix cache when the request was first scheduled
 * @param ttftMs        time from submission to the first generated token
 * @param tpotMs        mean time per generated token after the first (0 when only one was generated)
 */
public record RequestOutput(String requestId, int[] outputIds, String text, FinishReason finishReason,
                            int promptTokens, int cachedTokens, double ttftMs, double tpotMs,
                            CacheReport cacheReport) {
}
