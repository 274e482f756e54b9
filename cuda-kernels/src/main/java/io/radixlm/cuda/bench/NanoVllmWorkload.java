package io.radixlm.cuda.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The throughput workload of nano-vllm's bench.py: numRequests requests whose prompt and output lengths
 * are uniform in [minLength, maxLength], prompts of random token ids, EOS ignored. The same seed gives
 * the same requests.
 */
public record NanoVllmWorkload(List<Item> items) {
    /** One request: its prompt ids and how many tokens it must generate. */
    public record Item(int[] promptIds, int outputTokens) {
        public Item {
            if (promptIds.length == 0 || outputTokens < 1) throw new IllegalArgumentException("empty workload item");
        }
    }

    public NanoVllmWorkload {
        items = List.copyOf(items);
    }

    /** nano-vllm's numbers: 256 requests, lengths uniform in 100–1024. */
    public static NanoVllmWorkload standard(int vocabSize, long seed) {
        return generate(256, 100, 1024, vocabSize, seed);
    }

    public static NanoVllmWorkload generate(int numRequests, int minLength, int maxLength, int vocabSize, long seed) {
        if (numRequests < 1 || minLength < 1 || maxLength < minLength || vocabSize < 1) {
            throw new IllegalArgumentException("bad workload: " + numRequests + " requests, lengths " + minLength
                    + ".." + maxLength + ", vocab " + vocabSize);
        }
        SplittableRandom random = new SplittableRandom(seed);
        List<Item> items = new ArrayList<>();
        for (int r = 0; r < numRequests; r++) {
            int inputLength = random.nextInt(minLength, maxLength + 1);
            int outputLength = random.nextInt(minLength, maxLength + 1);
            int[] ids = new int[inputLength];
            for (int i = 0; i < inputLength; i++) ids[i] = random.nextInt(vocabSize);
            items.add(new Item(ids, outputLength));
        }
        return new NanoVllmWorkload(items);
    }

    public long totalOutputTokens() {
        long total = 0;
        for (Item item : items) total += item.outputTokens();
        return total;
    }

    public long totalPromptTokens() {
        long total = 0;
        for (Item item : items) total += item.promptIds().length;
        return total;
    }
}
