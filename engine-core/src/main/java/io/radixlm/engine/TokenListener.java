package io.radixlm.engine;

/** Receives generated text as it is produced (streaming). Called on the engine's thread. */
@FunctionalInterface
public interface TokenListener {
    /** textDelta is the newly complete text (may be empty while a multi-byte character is incomplete). */
    void onToken(String requestId, int tokenId, String textDelta);

    TokenListener NONE = (id, token, delta) -> { };
}
