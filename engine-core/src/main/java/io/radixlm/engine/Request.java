package io.radixlm.engine;

import io.radixlm.sampling.SamplingParams;

/**
 * One generation request. promptIds are used exactly as given (BOS included or not by the caller).
 * namespace isolates cache sharing: requests of different namespaces never share pages ("" = default).
 */
public record Request(String id, int[] promptIds, SamplingParams params, String namespace) {
    public Request {
        if (promptIds.length == 0) throw new IllegalArgumentException("prompt must have at least one token");
        promptIds = promptIds.clone();
    }
}
