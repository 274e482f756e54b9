package io.radixlm.cli;

import io.radixlm.model.ModelConfig;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Token ids given on the command line as "1,2,3", used exactly as given (no BOS added). */
record PromptIds(int[] ids) {

    PromptIds {
        ids = ids.clone();
    }

    /** Parses a comma-separated list of non-negative integers; spaces around commas are allowed. */
    static PromptIds parse(String text) {
        String trimmed = text.strip();
        if (trimmed.isEmpty()) throw new TypeConversionException("empty token id list; expected e.g. 1,2,3");
        String[] parts = trimmed.split(",", -1);
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String part = parts[i].strip();
            try {
                ids[i] = Integer.parseInt(part);
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + text + "' is not a list of token ids: '" + part
                        + "' (item " + (i + 1) + ") is not an integer; expected e.g. 1,2,3");
            }
            if (ids[i] < 0) throw new TypeConversionException("token id " + ids[i] + " is negative");
        }
        return new PromptIds(ids);
    }

    /** Checks that a prompt fits the model: ids inside the vocabulary and no longer than the context. */
    static void requireFits(int[] ids, ModelConfig config, String what) {
        if (ids.length == 0) throw new UserException(what + " has no tokens");
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new UserException(what + ": token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
        if (ids.length > config.maxPositionEmbeddings()) {
            throw new UserException(what + " has " + ids.length + " tokens, longer than the model's context of "
                    + config.maxPositionEmbeddings() + " tokens (max_position_embeddings)");
        }
    }

    static final class Converter implements ITypeConverter<PromptIds> {
        @Override
        public PromptIds convert(String value) { return parse(value); }
    }
}
