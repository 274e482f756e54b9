package io.radixlm.cuda;

/** silu_mul: out (numTokens, intermediate) bf16 = silu(gate) · up, gateUp (numTokens, 2 · intermediate) f32. */
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
        int numQuads = intermediate / 4;
        int gridX = (numQuads + VEC_BLOCK - 1) / VEC_BLOCK;
        int wave = numMultiprocessors * (2048 / VEC_BLOCK);
        int gridY = Math.min(Math.min(numTokens, MAX_GRID_Y), Math.max(1, wave / gridX));  // floor: a block past the wave would double the time
        return Dim3.of(gridX, gridY);
    }
}
