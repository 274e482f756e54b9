package io.radixlm.engine;

import io.radixlm.backend.Backend;
import io.radixlm.backend.ForwardBatch;
import io.radixlm.backend.PendingIds;
import io.radixlm.sampling.SamplingParams;

import java.util.List;

/**
 * Turns a scheduled batch into the backend's inputs (token ids, positions, slot mapping, block tables)
 * and enqueues it with its sampling; the sampled ids come back in batch order.
 */
final class ModelRunner {
    private final Backend backend;
    private final int pageSize;

    ModelRunner(Backend backend, int pageSize) {
        this.backend = backend;
        this.pageSize = pageSize;
    }

    /**
     * Enqueues the batch and its sampling: the next token of each sequence for which batch.samples(i), in
     * batch order, drawn by the backend. A token not known yet ({@link Sequence#PENDING}) is fed from its row of
     * previous, the step that samples it ({@link Sequence#pendingRow}).
     */
    PendingIds enqueue(ScheduledBatch batch, PendingIds previous) {
        List<Sequence> seqs = batch.sequences();
        int numSampling = batch.numSampling();
        SamplingParams[] rowParams = new SamplingParams[numSampling]; // (numSampling)
        int[] rowSteps = new int[numSampling];                        // (numSampling)
        int row = 0;
        for (int i = 0; i < seqs.size(); i++) {
            if (!batch.samples(i)) continue;
            rowParams[row] = seqs.get(i).request.params();
            rowSteps[row] = seqs.get(i).numGenerated();
            row++;
        }
        return backend.forwardSampleAsync(prepare(batch), rowParams, rowSteps, previous);
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
        int[] logitRows = new int[batch.numSampling()];
        int row = 0;
        int sampling = 0;
        for (int i = 0; i < numSeqs; i++) {
            Sequence seq = seqs.get(i);
            int start = seq.numComputed;
            int end = start + batch.numNewTokens()[i];
            queryStarts[i] = row;
            for (int pos = start; pos < end; pos++, row++) {
                int token = seq.tokens.get(pos);
                tokenIds[row] = token == Sequence.PENDING ? Backend.fedId(seq.pendingRow) : token;
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
