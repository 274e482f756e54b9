package io.radixlm.cuda;

/** bfloat16 ⇄ float32 on the host: weights are converted once on upload, tests read results back. */
public final class Bf16 {
    private Bf16() { }

    /** Round to nearest even, as PyTorch's .to(torch.bfloat16); NaN stays NaN. */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) return (short) 0x7fc0;
        int roundingBias = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    public static float toFloat(short value) {
        return Float.intBitsToFloat((value & 0xffff) << 16);
    }

    public static short[] fromFloats(float[] values) {
        short[] out = new short[values.length];
        for (int i = 0; i < values.length; i++) out[i] = fromFloat(values[i]);
        return out;
    }

    public static float[] toFloats(short[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) out[i] = toFloat(values[i]);
        return out;
    }

    /** The value bf16 storage turns x into (what the GPU computes with). */
    public static float round(float x) { return toFloat(fromFloat(x)); }
}
