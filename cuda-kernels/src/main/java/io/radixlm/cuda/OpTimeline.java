package io.radixlm.cuda;

import jcuda.driver.CUevent;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecordWithFlags;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

/**
 * Where the GPU time of one forward step goes: a CUDA event recorded on the stream before the first op
 * and after every op, so that the time between two events is that op's. {@link CudaBackend#profile}
 * records them inside a captured graph, where the ops follow each other as in a real decode step;
 * eager launches from Java would leave the GPU waiting on the host between small kernels, and that wait
 * would be counted as the kernels' time.
 */
public final class OpTimeline implements AutoCloseable {
    /** CU_EVENT_RECORD_EXTERNAL. */
    private static final int RECORD_EXTERNAL = 1;
    private final CudaDevice device;
    private final List<CUevent> events = new ArrayList<>();
    private final List<String> ops = new ArrayList<>(); // ops.get(i) ends at events.get(i + 1)

    OpTimeline(CudaDevice device) { this.device = device; }

    /** Records the event every later op is measured from; call once, before the first op. */
    void start() {
        if (!events.isEmpty()) throw new IllegalStateException("timeline already started");
        events.add(record());
    }

    /** Records the end of op (a kernel or GEMM just enqueued); ops of the same name are summed. */
    void mark(String op) {
        if (events.isEmpty()) throw new IllegalStateException("start() must come first");
        ops.add(op);
        events.add(record());
    }

    private CUevent record() {
        CUevent event = new CUevent();
        CudaDevice.check(cuEventCreate(event, 0), "cuEventCreate");
        // recorded during stream capture: EXTERNAL makes it an event-record node of the graph, which every
        // replay records; a plain record in a capture is only an ordering edge and cannot be timed
        CudaDevice.check(cuEventRecordWithFlags(event, device.stream(), RECORD_EXTERNAL), "cuEventRecordWithFlags");
        return event;
    }

    /** Once the step has run: milliseconds and call count per op name, in first-seen order. */
    Map<String, OpTime> times() {
        CudaDevice.check(cuEventSynchronize(events.getLast()), "cuEventSynchronize");
        Map<String, OpTime> byOp = new LinkedHashMap<>();
        float[] millis = {0};
        for (int i = 0; i < ops.size(); i++) {
            CudaDevice.check(cuEventElapsedTime(millis, events.get(i), events.get(i + 1)), "cuEventElapsedTime");
            byOp.merge(ops.get(i), new OpTime(millis[0], 1), OpTime::plus);
        }
        return byOp;
    }

    /** Per op, the median over runs of its milliseconds (runs hold the same ops: one captured step replayed). */
    static Map<String, OpTime> median(List<Map<String, OpTime>> runs) {
        Map<String, OpTime> out = new LinkedHashMap<>();
        for (Map.Entry<String, OpTime> first : runs.getFirst().entrySet()) {
            double[] millis = runs.stream().mapToDouble(run -> run.get(first.getKey()).millis()).sorted().toArray();
            int n = millis.length;
            double median = n % 2 == 1 ? millis[n / 2] : (millis[n / 2 - 1] + millis[n / 2]) / 2;
            out.put(first.getKey(), new OpTime(median, first.getValue().calls()));
        }
        return out;
    }

    @Override
    public void close() {
        for (CUevent event : events) cuEventDestroy(event);
        events.clear();
    }

    /** GPU milliseconds one op (summed over its calls, e.g. over layers) took in a step. */
    public record OpTime(double millis, int calls) {
        OpTime plus(OpTime other) { return new OpTime(millis + other.millis, calls + other.calls); }
    }
}
