package io.radixlm.cuda;

/**
 * silu_mul: out (numTokens, intermediate) bf16 = silu(gate) · up, gateUp (numTokens, 2 · intermediate) f32
 * ({@link #launch}) or bf16 ({@link #launchBf16}, the prefill's lean path: cuBLAS writes gate/up as bf16).
 */
public final class SwigluKernel {
    private static final int BLOCK = 256;
    /** Threads of silu_mul_vec4; 16 such blocks fill a multiprocessor (2048 threads). */
    static final int VEC_BLOCK = 128;
    private static final int MAX_GRID_Y = 65535;
    private final CudaDevice device;
    private final ElementwiseVariant variant;

    public SwigluKernel(CudaDevice device) { this(device, ElementwiseVariant.fromSystemProperty()); }

    public SwigluKernel(CudaDevice device, ElementwiseVariant variant) {
        this.device = device;
        this.variant = variant;
    }

    public void launch(DeviceMemory gateUp, DeviceMemory out, int numTokens, int intermediate) {
        gateUp.requireElements(2L * numTokens * intermediate, 4, "swiglu gateUp");
        out.requireElements((long) numTokens * intermediate, 2, "swiglu out");
        KernelArgs args = new KernelArgs().ptr(gateUp).ptr(out).i32(numTokens).i32(intermediate);
        if (usesVec4(gateUp, out, intermediate)) {
            Dim3 grid = vec4Grid(numTokens, intermediate, device.numMultiprocessors());
            device.launch("silu_mul_vec4", grid, Dim3.of(VEC_BLOCK), 0, args);
            return;
        }
        long total = (long) numTokens * intermediate;
        device.launch("silu_mul", Dim3.of((int) ((total + BLOCK - 1) / BLOCK)), Dim3.of(BLOCK), 0, args);
    }

    /**
     * As {@link #launch} for gateUp (numTokens, 2 · intermediate) bf16: the same float math on the widened
     * values, so bf16-representable inputs give launch's bits.
     */
    public void launchBf16(DeviceMemory gateUp, DeviceMemory out, int numTokens, int intermediate) {
        gateUp.requireElements(2L * numTokens * intermediate, 2, "swiglu bf16 gateUp");
        out.requireElements((long) numTokens * intermediate, 2, "swiglu out");
        KernelArgs args = new KernelArgs().ptr(gateUp).ptr(out).i32(numTokens).i32(intermediate);
        if (usesVec8(gateUp.address(), out.address(), intermediate)) {
            Dim3 grid = vec8Grid(numTokens, intermediate, device.numMultiprocessors());
            device.launch("silu_mul_bf16_vec8", grid, Dim3.of(VEC_BLOCK), 0, args);
            return;
        }
        long total = (long) numTokens * intermediate;
        device.launch("silu_mul_bf16", Dim3.of((int) ((total + BLOCK - 1) / BLOCK)), Dim3.of(BLOCK), 0, args);
    }

    /** The 16-byte kernel needs whole octets of columns and 16-byte aligned rows (cuMemAlloc gives 256). */
    static boolean usesVec8(long gateUp, long out, int intermediate) {
        return intermediate % 8 == 0 && gateUp % 16 == 0 && out % 16 == 0;
    }

    /** The float4 kernel needs whole quads of columns and 16-byte aligned rows (cuMemAlloc gives 256). */
    boolean usesVec4(DeviceMemory gateUp, DeviceMemory out, int intermediate) {
        return variant == ElementwiseVariant.V2 && intermediate % 4 == 0
                && gateUp.address() % 16 == 0 && out.address() % 8 == 0;
    }

    /**
     * x covers the column quads; y is about one wave of blocks (16 per multiprocessor), each striding
     * over rows, so that no block is launched per row of a long prefill and none waits for a second wave.
     */
    static Dim3 vec4Grid(int numTokens, int intermediate, int numMultiprocessors) {
        return rowStridedGrid(numTokens, intermediate / 4, numMultiprocessors);
    }

    /** As {@link #vec4Grid} for silu_mul_bf16_vec8: x covers the column octets. */
    static Dim3 vec8Grid(int numTokens, int intermediate, int numMultiprocessors) {
        return rowStridedGrid(numTokens, intermediate / 8, numMultiprocessors);
    }

    /** x: a thread per vector of a row (numVectors of them); y: about one wave of blocks over the rows. */
    private static Dim3 rowStridedGrid(int numTokens, int numVectors, int numMultiprocessors) {
        int gridX = (numVectors + VEC_BLOCK - 1) / VEC_BLOCK;
        int wave = numMultiprocessors * (2048 / VEC_BLOCK);
        int gridY = Math.min(Math.min(numTokens, MAX_GRID_Y), Math.max(1, wave / gridX));  // floor: a block past the wave would double the time
        return Dim3.of(gridX, gridY);
    }
}
