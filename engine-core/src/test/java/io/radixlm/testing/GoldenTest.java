package io.radixlm.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

class GoldenTest {

    private static final int VOCAB = 384;

    @TempDir
    Path tempDir;

    /** Values numpy printed on the device when the fixtures were made (golden/make_golden.log). */
    @Test
    void npyReaderGivesShapeAndValuesNumpyPrinted() {
        NpyArray llama7 = Golden.referenceLogits("llama3_gqa", 7);
        assertArrayEquals(new int[] {7, VOCAB}, llama7.shape());
        assertEquals(0.5620441436767578f, llama7.get(0, 0), 0f);
        assertEquals(0.4757750630378723f, llama7.get(0, 1), 0f);
        assertEquals(-1.0638436079025269f, llama7.get(6, 383), 0f);

        NpyArray llama1 = Golden.referenceLogits("llama3_gqa", 1);
        assertArrayEquals(new int[] {1, VOCAB}, llama1.shape());
        assertEquals(-0.27819356322288513f, llama1.get(0, 0), 0f);
        assertEquals(0.6155112385749817f, llama1.get(0, 383), 0f);

        NpyArray mistral300 = Golden.referenceLogits("mistral_mha", 300);
        assertEquals(300, mistral300.rows());
        assertEquals(0.4111510217189789f, mistral300.get(0, 0), 0f);
        assertEquals(-0.059785254299640656f, mistral300.get(299, 383), 0f);
        assertEquals(-0.687122642993927f, Golden.referenceLogits("qwen3_qknorm", 33).get(32, 383), 0f);
    }

    @ParameterizedTest
    @FieldSource("io.radixlm.testing.Golden#MODEL_NAMES")
    void everyModelHasItsFilesAndConsistentReferences(String name) {
        Path dir = Golden.modelDir(name);
        for (String file : new String[] {"config.json", "model.safetensors", "generation_config.json"}) {
            assertTrue(Files.isRegularFile(dir.resolve(file)), name + " lacks " + file);
        }
        ModelReference reference = Golden.modelReference(name);
        assertEquals(name, reference.model());
        for (int length : Golden.SEQUENCE_LENGTHS) {
            ModelReference.Sequence sequence = reference.sequence(length);
            for (int id : sequence.ids()) assertTrue(id >= 0 && id < VOCAB, "id " + id);
            NpyArray logits = Golden.readNpy(dir.resolve(sequence.logits()));
            assertArrayEquals(new int[] {length, VOCAB}, logits.shape());
            for (float v : logits.data()) assertTrue(Float.isFinite(v));
        }
        assertEquals(7, reference.greedy().prompt().length);
        assertEquals(24, reference.greedy().tokens().length);
        assertTrue(reference.greedy().ignoreEos());
    }

    @Test
    void llama3HasBothConfigForms() throws IOException {
        Path dir = Golden.modelDir("llama3_gqa");
        assertTrue(Files.readString(dir.resolve("config.json")).contains("\"rope_parameters\""));
        String legacy = Files.readString(dir.resolve("config.legacy.json"));
        assertTrue(legacy.contains("\"rope_scaling\"") && legacy.contains("\"rope_theta\""));
    }

    @Test
    void tokenizerCasesStartWithTheEmptyString() {
        // An empty string encodes to BOS alone: <|begin_of_text|> is id 0, <s> id 1.
        TokenizerCases byteLevel = Golden.tokenizerCases("bytelevel");
        assertEquals(32, byteLevel.cases().size());
        assertEquals("", byteLevel.cases().getFirst().text());
        assertArrayEquals(new int[] {0}, byteLevel.cases().getFirst().ids());
        assertArrayEquals(new int[] {}, byteLevel.cases().getFirst().idsNoSpecial());
        TokenizerCases spm = Golden.tokenizerCases("spm_bytefallback");
        assertArrayEquals(new int[] {1}, spm.cases().getFirst().ids());
        assertTrue(Files.isRegularFile(Golden.tokenizerDir("spm_bytefallback").resolve("tokenizer.json")));
    }

    @Test
    void chatCasesCarryTextIdsAndErrors() {
        ChatCases spm = Golden.chatCases("spm_bytefallback");
        assertEquals("<s>", spm.bosToken());
        assertEquals(8, spm.cases().size());
        ChatCases.Case first = spm.cases().getFirst();
        assertEquals("system", first.messages().getFirst().role());
        assertTrue(first.text().startsWith("<s>[INST] <<SYS>>\n"), first.text());
        assertEquals(1, first.ids()[0]);
        assertEquals("Unknown role: robot", spm.errors().getFirst().error());
        assertNotNull(spm.errors().get(1).error());
        assertNull(Golden.chatCases("bytelevel").errors().getFirst().error());
    }

    @Test
    void npyReaderReadsAHandWrittenVersion2File() throws IOException {
        Path file = writeNpy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                new float[] {1f, -2.5f, 3f, 4f, Float.MIN_VALUE, -0f});
        NpyArray array = NpyArray.read(file);
        assertArrayEquals(new int[] {2, 3}, array.shape());
        assertArrayEquals(new float[] {4f, Float.MIN_VALUE, -0f}, array.row(1));
        assertEquals(-2.5f, array.get(0, 1), 0f);
    }

    @Test
    void npyReaderRejectsWhatItCannotRead() throws IOException {
        float[] six = new float[6];
        String f8 = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
        assertThrows(IOException.class, () -> NpyArray.read(writeNpy(1, f8, six)));
        String fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        assertThrows(IOException.class, () -> NpyArray.read(writeNpy(1, fortran, six)));
        String tooBig = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }";
        assertThrows(IOException.class, () -> NpyArray.read(writeNpy(1, tooBig, six)));
        Path notNpy = tempDir.resolve("not.npy");
        Files.writeString(notNpy, "PK this is a zip, not an array");
        assertThrows(IOException.class, () -> NpyArray.read(notNpy));
    }

    @Test
    void relativeErrorIsTheNormOfTheDifferenceOverTheNorm() {
        assertEquals(0.0, Golden.relativeError(new float[] {3, 4}, new float[] {3, 4}), 0);
        assertEquals(0.2, Golden.relativeError(new float[] {3, 5}, new float[] {3, 4}), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> Golden.relativeError(new float[1], new float[2]));
    }

    /** A .npy file laid out by hand from the format description, independent of the reader. */
    private Path writeNpy(int version, String header, float[] values) throws IOException {
        int prefix = 6 + 2 + (version == 1 ? 2 : 4);
        int padded = (prefix + header.length() + 1 + 63) / 64 * 64;
        String fullHeader = header + " ".repeat(padded - prefix - header.length() - 1) + "\n";
        ByteBuffer buf = ByteBuffer.allocate(padded + values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) version).put((byte) 0);
        if (version == 1) buf.putShort((short) fullHeader.length()); else buf.putInt(fullHeader.length());
        buf.put(fullHeader.getBytes(StandardCharsets.US_ASCII));
        for (float v : values) buf.putFloat(v);
        Path file = Files.createTempFile(tempDir, "array", ".npy");
        Files.write(file, buf.array());
        return file;
    }
}
