package io.radixlm.backend;

import java.util.ArrayList;
import java.util.List;

/**
 * Runs whole sequences through a backend's paged cache by an explicit schedule, collecting the logits
 * of every position, so tests can compare different ways (one shot, chunks, decode, batching, page
 * layouts) of computing the same thing.
 */
final class PagedDriver {

    private PagedDriver() { }

    /**
     * @param tokens   the sequences
     * @param pages    for each sequence, the page ids (enough for its length) in position order
     * @param schedule steps; step[s] = how many of sequence s's next tokens the step brings (0 = absent)
     * @return for each sequence, (length, vocab) logits of all its positions
     */
    static float[][] run(Backend backend, int pageSize, List<int[]> tokens, List<int[]> pages, List<int[]> schedule) {
        int vocab = backend.config().vocabSize();
        int numSeqs = tokens.size();
        float[][] logits = new float[numSeqs][];
        for (int s = 0; s < numSeqs; s++) logits[s] = new float[tokens.get(s).length * vocab];
        int[] done = new int[numSeqs];
        for (int[] step : schedule) {
            List<Integer> seqs = new ArrayList<>();
            for (int s = 0; s < numSeqs; s++) if (step[s] > 0) seqs.add(s);
            ForwardBatch batch = batch(tokens, pages, pageSize, seqs, step, done);
            float[] out = backend.forward(batch);
            int row = 0;
            for (int s : seqs) {
                System.arraycopy(out, row * vocab, logits[s], done[s] * vocab, step[s] * vocab);
                row += step[s];
                done[s] += step[s];
            }
        }
        for (int s = 0; s < numSeqs; s++) {
            if (done[s] != tokens.get(s).length) throw new IllegalArgumentException("schedule leaves sequence " + s + " unfinished");
        }
        return logits;
    }

    private static ForwardBatch batch(List<int[]> tokens, List<int[]> pages, int pageSize, List<Integer> seqs,
                                      int[] step, int[] done) {
        ForwardBatchBuilder builder = new ForwardBatchBuilder(pageSize);
        for (int s : seqs) builder.addChunk(tokens.get(s), done[s], done[s] + step[s], pages.get(s));
        return builder.buildAllRows();
    }

    /** One step holding the whole of one sequence. */
    static List<int[]> oneShot(int length) {
        return List.<int[]>of(new int[] {length});
    }

    /** Prefill chunks of the given sizes, then one token per step to the end. */
    static List<int[]> chunksThenDecode(int length, int... chunks) {
        List<int[]> steps = new ArrayList<>();
        int done = 0;
        for (int c : chunks) {
            int n = Math.min(c, length - done);
            if (n > 0) steps.add(new int[] {n});
            done += n;
        }
        for (; done < length; done++) steps.add(new int[] {1});
        return steps;
    }

    /** Contiguous pages first, first..first+count-1. */
    static int[] contiguousPages(int first, int count) {
        int[] p = new int[count];
        for (int i = 0; i < count; i++) p[i] = first + i;
        return p;
    }

    static int pagesFor(int length, int pageSize) {
        return (length + pageSize - 1) / pageSize;
    }
}
