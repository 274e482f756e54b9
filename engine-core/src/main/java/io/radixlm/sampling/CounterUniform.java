package io.radixlm.sampling;

/**
 * The random number behind each sampled token, as a pure function of (seed, step): no generator state,
 * so a token can be drawn on any device, in any order, after any preemption, and come out the same.
 * step is the sequence's number of generated tokens before this one (0 for the first).
 *
 * <p>Definition (implemented bit for bit in {@code sampling.cu}; all arithmetic on unsigned 64-bit
 * integers, wrapping): {@code mix64} is SplitMix64's finaliser (Stafford's variant 13);
 * {@code bits53(seed, step) = mix64(mix64(seed) + (step + 1) * 0x9E3779B97F4A7C15) >>> 11}, a 53-bit
 * integer; the uniform is {@code bits53 * 2^-53} in [0, 1). Hashing the seed first keeps nearby seeds'
 * streams unrelated; the golden-ratio increment is SplitMix64's own, so for one seed the steps walk
 * exactly SplitMix64's sequence.
 */
public final class CounterUniform {
    static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private CounterUniform() { }

    /** A 53-bit uniformly distributed integer for (seed, step). */
    public static long bits53(long seed, long step) {
        return mix64(mix64(seed) + (step + 1) * GOLDEN_GAMMA) >>> 11;
    }

    /** bits53(seed, step) as a double in [0, 1). */
    public static double uniform(long seed, long step) {
        return bits53(seed, step) * 0x1p-53;
    }

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
