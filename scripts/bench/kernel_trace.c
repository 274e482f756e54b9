// A CUPTI injection library: loaded into any CUDA process through CUDA_INJECTION64_PATH, it records every kernel's
// GPU start and end (also the nodes of replayed CUDA graphs, and kernels that start early under programmatic
// dependent launch) and writes them at exit as CSV to $KTRACE_OUT: start_ns,end_ns,gridX,gridY,gridZ,name; memory
// copies too, as start_ns,end_ns,0,0,0,memcpy_<kind>_<bytes> (kind 1: host to device, 2: device to host, 8: device to device).
// The GPU machine has ncu but no nsys; ncu serializes kernels, so it cannot show how they overlap in a step.
// Use: CUDA_INJECTION64_PATH=libktrace.so KTRACE_OUT=trace.csv java ... bench --items 1; kernel_trace_steps.py reads it.
// Build: gcc -shared -fPIC -O2 -I$CUDA/include kernel_trace.c -o libktrace.so -L$CUDA/lib64 -lcupti
#include <cupti.h>
#include <stdio.h>
#include <stdlib.h>

static FILE *out;

static void CUPTIAPI bufferRequested(uint8_t **buffer, size_t *size, size_t *maxNumRecords) {
    *size = 32u << 20;
    *buffer = aligned_alloc(ACTIVITY_RECORD_ALIGNMENT, *size);
    *maxNumRecords = 0;
}

static void CUPTIAPI bufferCompleted(CUcontext ctx, uint32_t streamId, uint8_t *buffer, size_t size, size_t validSize) {
    (void)ctx; (void)streamId; (void)size;
    CUpti_Activity *record = NULL;
    while (cuptiActivityGetNextRecord(buffer, validSize, &record) == CUPTI_SUCCESS) {
        if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
            CUpti_ActivityKernel10 *k = (CUpti_ActivityKernel10 *)record;
            fprintf(out, "%llu,%llu,%d,%d,%d,%s\n", (unsigned long long)k->start, (unsigned long long)k->end,
                    k->gridX, k->gridY, k->gridZ, k->name);
        } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
            CUpti_ActivityMemcpy6 *m = (CUpti_ActivityMemcpy6 *)record;
            fprintf(out, "%llu,%llu,0,0,0,memcpy_%d_%llu\n", (unsigned long long)m->start, (unsigned long long)m->end,
                    (int)m->copyKind, (unsigned long long)m->bytes);
        }
    }
    free(buffer);
}

static void flushAtExit(void) {
    cuptiActivityFlushAll(1);
    if (out) fclose(out);
}

int InitializeInjection(void) {
    const char *path = getenv("KTRACE_OUT");
    out = fopen(path ? path : "ktrace.csv", "w");
    if (!out) return 0;
    if (cuptiActivityRegisterCallbacks(bufferRequested, bufferCompleted) != CUPTI_SUCCESS) return 0;
    if (cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) return 0;
    if (cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY) != CUPTI_SUCCESS) return 0;
    atexit(flushAtExit);
    return 1;
}
