package io.radixlm.engine;

/** Why a request stopped generating. */
public enum FinishReason {
    /** An EOS token was sampled (not with ignoreEos). */
    EOS,
    /** A stop string appeared in the output. */
    STOP,
    /** maxTokens were generated, or the context is full. */
    LENGTH;

    /** The name used in JSON output: "eos", "stop", "length". */
    public String jsonName() { return name().toLowerCase(java.util.Locale.ROOT); }
}
