package io.radixlm.model;

/**
 * bfloat16: the upper 16 bits of an IEEE float32 (8 exponent bits, 7 mantissa bits). Java has no
 * type for it, so values travel as the raw bits in a short.
 */
public final class BFloat16 {
    private BFloat16() {}

    /** The float32 whose upper half is {@code bits}; exact, since bf16 is a truncated float32. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * The nearest bf16, ties to even (what torch's {@code tensor.to(torch.bfloat16)} does). NaN stays
     * NaN: plain rounding could carry a NaN payload into the exponent and turn it into infinity.
     */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x0040); // keep sign, force a quiet-NaN mantissa bit
        }
        int lsb = (bits >>> 16) & 1;
        int rounded = bits + 0x7FFF + lsb; // overflow into the exponent is the correct round-up (to inf at the top)
        return (short) (rounded >>> 16);
    }
}
