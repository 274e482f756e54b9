package io.radixlm.convert;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a Hugging Face tokenizer.json equivalent to llama2.c's encoder: a SentencePiece-style BPE
 * with byte fallback, laid out like Llama 2's own tokenizer.json.
 *
 * <p>llama2.c starts from one symbol per code point (byte tokens for code points not in the
 * vocabulary) and repeatedly merges the adjacent pair whose concatenation is a piece with the
 * highest score, the leftmost on ties. HF BPE repeatedly applies the adjacent pair with the lowest
 * merge rank, the leftmost on ties. So every split of a piece into two pieces becomes a merge, ranked
 * by the merged piece's score. Byte tokens and special tokens never merge in either.
 */
public final class SentencePieceTokenizerJson {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private SentencePieceTokenizerJson() {}

    /** One merge rule: left + right = the piece with id merged. */
    record Merge(String left, String right, int merged, float score) {}

    public static ObjectNode build(Llama2cVocab vocab) {
        ObjectNode root = NODES.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.set("added_tokens", addedTokens());
        root.set("normalizer", normalizer());
        root.putNull("pre_tokenizer");
        root.set("post_processor", postProcessor());
        root.set("decoder", decoder());
        root.set("model", model(vocab));
        return root;
    }

    /**
     * Merges in rank order. Ties in score (llama2.c's whitespace runs all score -1e9) are ordered
     * longer left part first: a run of spaces then grows from its left end, as llama2.c's
     * leftmost-first rule grows it.
     */
    static List<Merge> merges(Llama2cVocab vocab) {
        Map<String, Integer> normalIds = new HashMap<>();
        for (int id = Llama2cVocab.NUM_SPECIAL_AND_BYTES; id < vocab.size(); id++) {
            normalIds.put(vocab.pieces().get(id), id);
        }
        List<Merge> merges = new ArrayList<>();
        for (int id = Llama2cVocab.NUM_SPECIAL_AND_BYTES; id < vocab.size(); id++) {
            String piece = vocab.pieces().get(id);
            for (int split = piece.offsetByCodePoints(0, 1); split < piece.length();
                 split = piece.offsetByCodePoints(split, 1)) {
                String left = piece.substring(0, split);
                String right = piece.substring(split);
                if (normalIds.containsKey(left) && normalIds.containsKey(right)) {
                    merges.add(new Merge(left, right, id, vocab.scores()[id]));
                }
            }
        }
        merges.sort(Comparator.comparingDouble((Merge m) -> -m.score())
                .thenComparingInt(m -> -m.left().codePointCount(0, m.left().length()))
                .thenComparingInt(Merge::merged));
        return merges;
    }

    private static ObjectNode model(Llama2cVocab vocab) {
        ObjectNode model = NODES.objectNode();
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", "<unk>");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("ignore_merges", false);
        ObjectNode ids = model.putObject("vocab");
        for (int id = 0; id < vocab.size(); id++) ids.put(vocab.pieces().get(id), id);
        ArrayNode merges = model.putArray("merges");
        for (Merge m : merges(vocab)) merges.add(NODES.arrayNode().add(m.left()).add(m.right()));
        return model;
    }

    private static ArrayNode addedTokens() {
        ArrayNode tokens = NODES.arrayNode();
        String[] names = {"<unk>", "<s>", "</s>"};
        for (int id = 0; id < names.length; id++) {
            ObjectNode t = tokens.addObject();
            t.put("id", id);
            t.put("content", names[id]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        return tokens;
    }

    private static ObjectNode normalizer() {
        ObjectNode n = NODES.objectNode();
        n.put("type", "Sequence");
        ArrayNode steps = n.putArray("normalizers");
        steps.addObject().put("type", "Prepend").put("prepend", String.valueOf(Llama2cVocab.SPACE_MARK));
        steps.add(replace(" ", String.valueOf(Llama2cVocab.SPACE_MARK)));
        return n;
    }

    private static ObjectNode decoder() {
        ObjectNode d = NODES.objectNode();
        d.put("type", "Sequence");
        ArrayNode steps = d.putArray("decoders");
        steps.add(replace(String.valueOf(Llama2cVocab.SPACE_MARK), " "));
        steps.addObject().put("type", "ByteFallback");
        steps.addObject().put("type", "Fuse");
        steps.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        return d;
    }

    private static ObjectNode replace(String pattern, String content) {
        ObjectNode r = NODES.objectNode();
        r.put("type", "Replace");
        r.putObject("pattern").put("String", pattern);
        r.put("content", content);
        return r;
    }

    /** Adds BOS in front of every sequence, as Llama 2's tokenizer.json does. */
    private static ObjectNode postProcessor() {
        ObjectNode p = NODES.objectNode();
        p.put("type", "TemplateProcessing");
        ArrayNode single = p.putArray("single");
        single.add(special("<s>", 0));
        single.add(sequence("A", 0));
        ArrayNode pair = p.putArray("pair");
        pair.add(special("<s>", 0));
        pair.add(sequence("A", 0));
        pair.add(special("<s>", 1));
        pair.add(sequence("B", 1));
        ObjectNode bos = p.putObject("special_tokens").putObject("<s>");
        bos.put("id", "<s>");
        bos.putArray("ids").add(Llama2cVocab.BOS_ID);
        bos.putArray("tokens").add("<s>");
        return p;
    }

    private static ObjectNode special(String id, int typeId) {
        ObjectNode n = NODES.objectNode();
        n.putObject("SpecialToken").put("id", id).put("type_id", typeId);
        return n;
    }

    private static ObjectNode sequence(String id, int typeId) {
        ObjectNode n = NODES.objectNode();
        n.putObject("Sequence").put("id", id).put("type_id", typeId);
        return n;
    }
}
