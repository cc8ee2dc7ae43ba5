import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.ort.ProbeRun;
import io.modelrefinery.host.ort.ProbeWorker;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What the host's check of a step's output costs, per model: milliseconds of one check (session with default
 * options, one run on generated inputs) in the host's own process, in the kept child (ProbeWorker, after its
 * start) and in a fresh child JVM each time (IsolatedProbe), means over RUNS checks after one untimed check;
 * and in the kept child with the runs a job's evaluation adds for the pipeline's result (the default
 * evaluation: batch 64 with default options, batch 1 on one intra-op thread), means over RUNS / 4 checks.
 *
 * <pre>
 * java -cp dist/refinery.jar bench/OutputCheckCost.java RUNS MODEL...
 * </pre>
 */
public class OutputCheckCost {
    public static void main(String[] args) throws Exception {
        int runs = Integer.parseInt(args[0]);
        Path work = Files.createTempDirectory("refinery-check-cost-");
        try {
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            List<ProbeRun> evaluation = Evaluator.Settings.defaults().probeRuns(true);
            System.out.println("| model | bytes | in process (ms) | kept child (ms) | kept child, with the evaluation's runs (ms) | fresh child (ms) | first kept-child check (ms; the first row includes its start) |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (int i = 1; i < args.length; i++) {
                Path file = Path.of(args[i]);
                OnnxModel model = OnnxModel.load(file);
                inProcess(inference, model);
                long start = System.nanoTime();
                for (int r = 0; r < runs; r++) {
                    inProcess(inference, model);
                }
                double own = (System.nanoTime() - start) / 1e6 / runs;
                ProbeWorker worker = ProbeWorker.shared();
                start = System.nanoTime();
                require(worker.failure(file).isEmpty(), file);
                double first = (System.nanoTime() - start) / 1e6;
                start = System.nanoTime();
                for (int r = 0; r < runs; r++) {
                    require(worker.failure(file).isEmpty(), file);
                }
                double kept = (System.nanoTime() - start) / 1e6 / runs;
                require(worker.failure(file, evaluation).isEmpty(), file);
                int evaluatedRuns = Math.max(1, runs / 4);
                start = System.nanoTime();
                for (int r = 0; r < evaluatedRuns; r++) {
                    require(worker.failure(file, evaluation).isEmpty(), file);
                }
                double evaluated = (System.nanoTime() - start) / 1e6 / evaluatedRuns;
                IsolatedProbe fresh = new IsolatedProbe(IsolatedProbe.Limits.forModel(Files.size(file)));
                int freshRuns = Math.max(1, Math.min(runs, 5));
                start = System.nanoTime();
                for (int r = 0; r < freshRuns; r++) {
                    require(fresh.failure(file).isEmpty(), file);
                }
                double child = (System.nanoTime() - start) / 1e6 / freshRuns;
                System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.1f | %.1f | %.0f | %.0f |%n", file.getFileName(),
                        Files.size(file), own, kept, evaluated, child, first);
            }
        } finally {
            Folders.deleteQuietly(work);
        }
        System.exit(0);
    }

    private static void inProcess(InferenceService inference, OnnxModel model) {
        try (InferenceSession session = inference.open(model)) {
            session.run(Evaluator.generatedInputs(session.inputs()));
        }
    }

    private static void require(boolean passed, Path file) {
        if (!passed) {
            throw new IllegalStateException(file + " did not pass the check");
        }
    }
}
