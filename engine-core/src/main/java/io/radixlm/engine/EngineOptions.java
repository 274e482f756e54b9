package io.radixlm.engine;

/**
 * Engine sizing. numPages 0 means "as many as the backend's budget allows, capped by what
 * maxRunningSeqs sequences of full context need".
 */
public record EngineOptions(int pageSize, int numPages, int maxBatchTokens, int maxRunningSeqs) {
    public EngineOptions {
        if (pageSize < 1) throw new IllegalArgumentException("page size must be >= 1");
        if (numPages < 0) throw new IllegalArgumentException("numPages must be >= 0");
        if (maxBatchTokens < 1) throw new IllegalArgumentException("max batch tokens must be >= 1");
        if (maxRunningSeqs < 1) throw new IllegalArgumentException("max running sequences must be >= 1");
    }

    public static EngineOptions defaults() { return new EngineOptions(16, 0, 2048, 64); }
}
