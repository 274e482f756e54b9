package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;

import java.util.List;

/**
 * Turns a scheduled batch into the backend's inputs (token ids, positions, slot mapping, block tables)
 * and runs it. Returns the logits of the sequences that sample, in batch order.
 */
final class ModelRunner {
    private final Backend backend;
    private final int pageSize;

    ModelRunner(Backend backend, int pageSize) {
        this.backend = backend;
        this.pageSize = pageSize;
    }

    /** Logits (numSampling, vocab) of the sequences for which batch.samples(i), in batch order. */
    float[] run(ScheduledBatch batch) {
        return backend.forward(prepare(batch));
    }

    ForwardBatch prepare(ScheduledBatch batch) {
        List<Sequence> seqs = batch.sequences();
        int numSeqs = seqs.size();
        int numTokens = 0;
        for (int n : batch.numNewTokens()) numTokens += n;
        int[] tokenIds = new int[numTokens];      // (numTokens)
        int[] positions = new int[numTokens];     // (numTokens)
        int[] slotMapping = new int[numTokens];   // (numTokens)
        int[] queryStarts = new int[numSeqs + 1]; // (numSeqs + 1)
        int[] contextLengths = new int[numSeqs];  // (numSeqs)
        int[][] blockTables = new int[numSeqs][]; // (numSeqs, pages)
        int numSampling = 0;
        for (int i = 0; i < numSeqs; i++) if (batch.samples(i)) numSampling++;
        int[] logitRows = new int[numSampling];
        int row = 0;
        int sampling = 0;
        for (int i = 0; i < numSeqs; i++) {
            Sequence seq = seqs.get(i);
            int start = seq.numComputed;
            int end = start + batch.numNewTokens()[i];
            queryStarts[i] = row;
            for (int pos = start; pos < end; pos++, row++) {
                tokenIds[row] = seq.tokens.get(pos);
                positions[row] = pos;
                slotMapping[row] = seq.pages.get(pos / pageSize) * pageSize + pos % pageSize;
            }
            contextLengths[i] = end;
            blockTables[i] = seq.pages.slice(0, Scheduler.ceilDiv(end, pageSize));
            if (batch.samples(i)) logitRows[sampling++] = row - 1;
        }
        queryStarts[numSeqs] = row;
        return new ForwardBatch(tokenIds, positions, slotMapping, queryStarts, contextLengths, blockTables, logitRows);
    }
}
