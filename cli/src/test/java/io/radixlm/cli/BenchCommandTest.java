package io.radixlm.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `radixlm bench` without a GPU and with bad options: one clear message and exit code 2, nothing measured. */
class BenchCommandTest {
    @Test
    void withoutAGpuBenchIsOneClearError() {
        Assumptions.assumeFalse(Files.exists(Path.of("/dev/nvidia0")),
                "this machine has a GPU: the no-GPU error path cannot be reached here");
        CliRun run = CliRun.of("bench", "--quick", "--json");
        assertEquals(2, run.exitCode(), run.toString());
        assertTrue(run.err().contains("radixlm bench: error: radixlm bench needs a usable NVIDIA GPU"), run.toString());
        assertEquals(1, run.err().strip().lines().count(), "one line:\n" + run.err());
        assertFalse(run.err().contains("\tat "), "no stack trace:\n" + run.err());
        assertEquals("", run.out(), "no report without a GPU");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--items=9        | no bench item 9 (items are [1, 2, 3, 4, 5, 6, 7, 8])",
        "--items=1,x      | --items takes item numbers separated by commas",
        "--items=,        | choose at least one item [1, 2, 3, 4, 5, 6, 7, 8]",
        "--max-seconds=0  | --max-seconds must be positive",
    })
    void badOptionsAreUserErrors(String flag, String message) {
        CliRun run = CliRun.of("bench", flag);
        assertEquals(2, run.exitCode(), run.toString());
        assertTrue(run.err().contains(message), run.toString());
        assertFalse(run.err().contains("\tat "), "no stack trace:\n" + run.err());
    }

    @Test
    void helpListsBench() {
        CliRun run = CliRun.of("--help");
        assertTrue(run.out().contains("  bench "), run.out());
    }
}
