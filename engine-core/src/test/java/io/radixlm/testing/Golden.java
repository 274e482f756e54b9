package io.radixlm.testing;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The golden fixtures (resources under golden/, made by scripts/golden/make_golden.py with HF
 * transformers and tokenizers; see golden/README.md there): where they are and how to read them.
 *
 * <p>Fixtures are returned as real directories so that model loaders can map the files. When the
 * resources sit inside a jar (cuda-kernels uses engine-core's test-jar), they are copied once to a
 * temporary directory. The system property {@code radixlm.golden.dir} overrides the location.
 */
public final class Golden {

    /** Tiny random-weight models, one per architecture feature (see golden/README.md). */
    public static final List<String> MODEL_NAMES = List.of("llama3_gqa", "qwen2_bias", "qwen3_qknorm", "mistral_mha");
    /** Trained tokenizers: Llama-3-style byte-level BPE and Llama-2-style BPE with byte fallback. */
    public static final List<String> TOKENIZER_NAMES = List.of("bytelevel", "spm_bytefallback");
    /** Lengths of the id sequences each model has reference logits for. */
    public static final List<Integer> SEQUENCE_LENGTHS = List.of(1, 7, 33, 300);

    private static final String RESOURCE_ROOT = "golden";
    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static Path root;

    private Golden() {
    }

    /** The golden/ directory (holding models/ and tokenizers/). */
    public static synchronized Path root() {
        if (root == null) root = locateRoot();
        return root;
    }

    /** A model directory: config.json, model.safetensors, generation_config.json, logits_L.npy, reference.json. */
    public static Path modelDir(String name) {
        return existing(root().resolve("models").resolve(name));
    }

    /** A tokenizer directory: tokenizer.json, tokenizer_config.json, cases.json, chat_cases.json. */
    public static Path tokenizerDir(String name) {
        return existing(root().resolve("tokenizers").resolve(name));
    }

    /** A model's reference.json. */
    public static ModelReference modelReference(String name) {
        return readJson(modelDir(name).resolve("reference.json"), ModelReference.class);
    }

    /** The reference logits of a model for its sequence of the given length: float32 [length, vocab]. */
    public static NpyArray referenceLogits(String name, int length) {
        return readNpy(modelDir(name).resolve(modelReference(name).sequence(length).logits()));
    }

    /** A tokenizer's cases.json. */
    public static TokenizerCases tokenizerCases(String name) {
        return readJson(tokenizerDir(name).resolve("cases.json"), TokenizerCases.class);
    }

    /** A tokenizer's chat_cases.json. */
    public static ChatCases chatCases(String name) {
        return readJson(tokenizerDir(name).resolve("chat_cases.json"), ChatCases.class);
    }

    /** Reads a float32 .npy file. */
    public static NpyArray readNpy(Path file) {
        try {
            return NpyArray.read(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Relative error ‖actual − expected‖₂ / ‖expected‖₂, computed in double (the logits criterion). */
    public static double relativeError(float[] actual, float[] expected) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("lengths differ: " + actual.length + " vs " + expected.length);
        }
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff) / Math.sqrt(norm);
    }

    private static <T> T readJson(Path file, Class<T> type) {
        try {
            return JSON.readValue(file.toFile(), type);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
    }

    private static Path existing(Path dir) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("no golden fixture at " + dir);
        return dir;
    }

    private static Path locateRoot() {
        String override = System.getProperty("radixlm.golden.dir");
        if (override != null) return existing(Path.of(override));
        URL readme = Golden.class.getClassLoader().getResource(RESOURCE_ROOT + "/README.md");
        if (readme == null) throw new IllegalStateException("golden fixtures are not on the classpath");
        try {
            URI uri = readme.toURI();
            if (uri.getScheme().equals("file")) return Path.of(uri).getParent();
            return extractFromJar(uri);
        } catch (URISyntaxException | IOException e) {
            throw new IllegalStateException("cannot open golden fixtures at " + readme, e);
        }
    }

    /** Copies golden/ out of a jar: the loaders map files, which a zip entry cannot give them. */
    private static Path extractFromJar(URI readmeUri) throws IOException {
        Path target = Files.createTempDirectory("radixlm-golden");
        try (FileSystem jar = FileSystems.newFileSystem(readmeUri, Map.of());
             Stream<Path> entries = Files.walk(jar.getPath(RESOURCE_ROOT))) {
            Path source = jar.getPath(RESOURCE_ROOT);
            for (Path entry : (Iterable<Path>) entries::iterator) {
                Path dest = target.resolve(source.relativize(entry).toString());
                if (Files.isDirectory(entry)) {
                    Files.createDirectories(dest);
                } else {
                    Files.copy(entry, dest, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return target;
    }
}
