package io.radixlm.convert;

import io.radixlm.model.ModelFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * llama2.c's tokenizer.bin (int32 max_token_length, then per token: float32 score, int32 length,
 * UTF-8 bytes), with pieces spelled as in a SentencePiece vocabulary: '▁' for space, "&lt;0xNN&gt;" for
 * the byte-fallback tokens and "&lt;unk&gt;", "&lt;s&gt;", "&lt;/s&gt;" for ids 0, 1, 2. llama2.c exports
 * replace those spellings (space for '▁', "\n&lt;s&gt;\n" for BOS, raw bytes for byte tokens), so we
 * undo that here.
 *
 * @param pieces by id
 * @param scores by id; llama2.c merges the adjacent pair whose merged piece scores highest
 */
public record Llama2cVocab(List<String> pieces, float[] scores) {
    public static final int UNK_ID = 0;
    public static final int BOS_ID = 1;
    public static final int EOS_ID = 2;
    /** Byte b has id FIRST_BYTE_ID + b, as in every SentencePiece model with byte_fallback. */
    public static final int FIRST_BYTE_ID = 3;
    public static final int NUM_SPECIAL_AND_BYTES = FIRST_BYTE_ID + 256;
    public static final char SPACE_MARK = '\u2581';

    public Llama2cVocab {
        pieces = List.copyOf(pieces);
        scores = scores.clone();
        if (pieces.size() != scores.length) throw new IllegalArgumentException("pieces and scores differ in length");
    }

    public int size() { return pieces.size(); }

    /** Whether id is a normal piece (not unk/bos/eos, not a byte token): only those take part in merges. */
    public static boolean isNormal(int id) { return id >= NUM_SPECIAL_AND_BYTES; }

    /** Reads tokenizer.bin holding exactly vocabSize tokens (the checkpoint header says how many). */
    public static Llama2cVocab read(Path file, int vocabSize) throws IOException {
        if (vocabSize < NUM_SPECIAL_AND_BYTES) {
            throw new ModelFormatException("vocabulary of " + vocabSize + " tokens cannot hold <unk>, <s>, </s> and"
                    + " the 256 byte tokens of a SentencePiece byte-fallback vocabulary");
        }
        ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        String[] pieces = new String[vocabSize];
        float[] scores = new float[vocabSize];
        try {
            in.getInt(); // max_token_length: only a buffer size for llama2.c
            for (int id = 0; id < vocabSize; id++) {
                scores[id] = in.getFloat();
                int len = in.getInt();
                if (len < 0 || len > in.remaining()) {
                    throw new ModelFormatException("tokenizer " + file + ": token " + id + " has length " + len
                            + " but " + in.remaining() + " bytes remain");
                }
                byte[] bytes = new byte[len];
                in.get(bytes);
                pieces[id] = piece(id, bytes, file);
            }
        } catch (java.nio.BufferUnderflowException e) {
            throw new ModelFormatException("tokenizer " + file + " is truncated (expected " + vocabSize + " tokens)", e);
        }
        if (in.hasRemaining()) {
            throw new ModelFormatException("tokenizer " + file + " has " + in.remaining()
                    + " bytes after its " + vocabSize + " tokens: it does not belong to this checkpoint");
        }
        checkUnique(pieces, file);
        return new Llama2cVocab(List.of(pieces), scores);
    }

    private static String piece(int id, byte[] bytes, Path file) {
        if (id == UNK_ID) return "<unk>";
        if (id == BOS_ID) return "<s>";
        if (id == EOS_ID) return "</s>";
        if (id < NUM_SPECIAL_AND_BYTES) return byteTokenPiece(id, bytes, file);
        return decodeUtf8(bytes, id, file).replace(' ', SPACE_MARK);
    }

    private static String byteTokenPiece(int id, byte[] bytes, Path file) {
        int b = id - FIRST_BYTE_ID;
        String name = byteTokenName(b);
        // Exports spell byte b as "<0xNN>", as the raw byte, or as the char U+00NN in UTF-8.
        boolean rawByte = bytes.length == 1 && (bytes[0] & 0xFF) == b;
        String text = new String(bytes, StandardCharsets.UTF_8);
        if (!rawByte && !text.equals(name) && !text.equals(String.valueOf((char) b))) {
            throw new ModelFormatException("tokenizer " + file + ": id " + id + " should be the byte token "
                    + name + " of a SentencePiece byte-fallback vocabulary, found '" + text + "'");
        }
        return name;
    }

    public static String byteTokenName(int b) { return String.format("<0x%02X>", b); }

    private static String decodeUtf8(byte[] bytes, int id, Path file) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException("tokenizer " + file + ": token " + id + " is not valid UTF-8", e);
        }
    }

    private static void checkUnique(String[] pieces, Path file) {
        Map<String, Integer> seen = new HashMap<>();
        for (int id = 0; id < pieces.length; id++) {
            Integer previous = seen.putIfAbsent(pieces[id], id);
            if (previous != null) {
                throw new ModelFormatException("tokenizer " + file + ": ids " + previous + " and " + id
                        + " are both '" + pieces[id] + "'");
            }
        }
    }
}
