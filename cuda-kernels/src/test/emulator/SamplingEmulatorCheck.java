import io.radixlm.sampling.Sampler;
import io.radixlm.sampling.SamplingParams;
import java.io.*;
import java.nio.*;
import java.nio.file.*;
import java.util.*;

/**
 * Compares sample_rows run on the host (sample_rows_host.cpp) with {@link Sampler} on rows like those of
 * SamplingKernelGpuTest (plus greedy rows and a NaN row); exits 1 on any disagreement. Run by
 * scripts/sampling-emulator: java -cp engine-core/target/classes SamplingEmulatorCheck.java EMULATOR WORKDIR VOCAB REPEATS
 */
public class SamplingEmulatorCheck {
    public static void main(String[] args) throws Exception {
        String emulator = args[0];
        Path work = Path.of(args[1]);
        int vocab = Integer.parseInt(args[2]);
        int repeats = Integer.parseInt(args[3]);
        double[] ts = {0.3, 0.7, 1.0, 1.5}; int[] ks = {0, 1, 40, 1000}; double[] ps = {0.5, 0.9, 1.0}; double[] ms = {0, 0.05, 0.2};
        Random random = new Random(vocab);
        List<SamplingParams> params = new ArrayList<>();
        for (int rep = 0; rep < repeats; rep++)
            for (double t : ts) for (int k : ks) for (double p : ps) for (double m : ms)
                params.add(new SamplingParams(t, k, p, m, random.nextLong(), 16, List.of(), false));
        for (int g = 0; g < 8; g++) params.add(SamplingParams.greedy(1));
        int n = params.size();
        float[] logits = new float[n * vocab];
        for (int r = 0; r < n; r++) {
            double scale = 0.5 * Math.pow(16, random.nextDouble());
            boolean ties = r % 3 == 2;
            for (int i = 0; i < vocab; i++) { double x = random.nextGaussian() * scale; logits[r * vocab + i] = (float) (ties ? Math.round(x * 4) / 4.0 : x); }
        }
        logits[vocab * (n - 1) + Math.min(7, vocab - 1)] = Float.NaN; // last row: non-finite
        int[] steps = new int[n];
        for (int r = 0; r < n; r++) steps[r] = random.nextInt(4096);
        ByteBuffer b = ByteBuffer.allocate(8 + n * 64 + n * vocab * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(vocab).putInt(n);
        for (int r = 0; r < n; r++) {
            SamplingParams p = params.get(r);
            b.putLong(Double.doubleToRawLongBits(p.temperature())).putLong(Double.doubleToRawLongBits(p.topP()))
             .putLong(Double.doubleToRawLongBits(p.minP())).putLong(p.seed()).putLong(steps[r]).putLong(p.topK()).putLong(0).putLong(0);
        }
        for (float x : logits) b.putFloat(x);
        Files.write(work.resolve("in.bin"), b.array());
        Process proc = new ProcessBuilder(emulator, work.resolve("in.bin").toString(), work.resolve("out.bin").toString()).inheritIO().start();
        if (proc.waitFor() != 0) throw new IllegalStateException("emu failed");
        ByteBuffer o = ByteBuffer.wrap(Files.readAllBytes(work.resolve("out.bin"))).order(ByteOrder.LITTLE_ENDIAN);
        int bad = 0;
        for (int r = 0; r < n; r++) {
            int gpu = o.getInt();
            int cpu;
            try { cpu = new Sampler(params.get(r)).sample(logits, r * vocab, vocab, steps[r]); } catch (IllegalArgumentException e) { cpu = -1; }
            if (gpu != cpu) { bad++; if (bad < 20) System.out.println("row " + r + " " + params.get(r) + " emu " + gpu + " cpu " + cpu + " " + (cpu >= 0 ? new Sampler(params.get(r)).draw(logits, r * vocab, vocab, steps[r]) : "")); }
        }
        System.out.println("[sampling-emulator] vocab " + vocab + ": " + (n - bad) + " of " + n + " rows agree with the CPU Sampler");
        if (bad > 0) System.exit(1);
    }
}
