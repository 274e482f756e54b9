package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.model.ModelConfig;
import io.radixlm.tokenizer.Tokenizer;

import java.util.List;

/**
 * The engine: a backend, the paged KV cache with its radix prefix tree, the scheduler and the sampler.
 * Requests given together run together (continuous batching); the prefix cache persists across calls.
 */
public final class LlmEngine implements AutoCloseable {
    private final Backend backend;
    private final Tokenizer tokenizer;

    /** tokenizer may be null (prompts as ids; outputs then carry empty text). Takes ownership of backend. */
    public LlmEngine(Backend backend, Tokenizer tokenizer, List<Integer> eosTokenIds, EngineOptions options) {
        this.backend = backend;
        this.tokenizer = tokenizer;
        throw new UnsupportedOperationException("engine under construction");
    }

    /** Runs the requests to completion, streaming tokens to listener; outputs in request order. */
    public List<RequestOutput> generate(List<Request> requests, TokenListener listener) {
        throw new UnsupportedOperationException("engine under construction");
    }

    /** Logits of every prompt position, (promptIds.length, vocabSize) row-major; bypasses the prefix cache. */
    public float[] promptLogits(int[] promptIds) {
        throw new UnsupportedOperationException("engine under construction");
    }

    public ModelConfig config() { return backend.config(); }

    public Backend backend() { return backend; }

    public Tokenizer tokenizer() { return tokenizer; }

    @Override
    public void close() { backend.close(); }
}
