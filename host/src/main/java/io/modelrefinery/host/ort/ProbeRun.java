package io.modelrefinery.host.ort;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One run the output check makes of a model in its child process: inputs generated with a symbolic batch
 * dimension set to {@code batch} (a fixed one stays as the model has it, other symbolic dimensions 1), in a
 * session with all graph optimizations and {@code intraOpThreads} intra-op threads (0: ONNX Runtime's default).
 * The check always makes {@link #DEPLOYER}'s run; a job adds the runs its evaluation will make in the host's
 * process, so that a model that crashes ONNX Runtime only there ends the child instead.
 *
 * <p>The child is told runs as {@code batch=B,threads=T} words ({@link #word()}), so that it needs to know
 * nothing of who asked or why.
 */
public record ProbeRun(int batch, int intraOpThreads) {
    /** How a deployer opens a model: default session options, symbolic dimensions 1. */
    public static final ProbeRun DEPLOYER = new ProbeRun(1, 0);
    private static final Pattern WORD = Pattern.compile("batch=(\\d{1,9}),threads=(\\d{1,4})");

    public ProbeRun {
        if (batch < 1 || intraOpThreads < 0) {
            throw new IllegalArgumentException("invalid probe run: batch " + batch + ", " + intraOpThreads + " threads");
        }
    }

    /** {@code batch=B,threads=T}: what the child reads, and writes back while it runs it. */
    public String word() {
        return "batch=" + batch + ",threads=" + intraOpThreads;
    }

    /** The run {@code word} names ({@link #word()}). */
    static ProbeRun parse(String word) {
        Matcher m = WORD.matcher(word.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a probe run: '" + word + "'");
        }
        return new ProbeRun(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
    }

    /** The runs of a space-separated list of words; none for a blank one. */
    static List<ProbeRun> parseAll(String words) {
        List<ProbeRun> runs = new ArrayList<>();
        for (String word : words.trim().split("\\s+")) {
            if (!word.isEmpty()) {
                runs.add(parse(word));
            }
        }
        return runs;
    }

    /** {@link #DEPLOYER} first, then {@code more} in order without repeats: the runs a check makes. */
    static List<ProbeRun> withDeployer(List<ProbeRun> more) {
        List<ProbeRun> runs = new ArrayList<>(List.of(DEPLOYER));
        for (ProbeRun run : more) {
            if (!runs.contains(run)) {
                runs.add(run);
            }
        }
        return runs;
    }

    /** How a message names the session the run is made in: "with default session options", "with 1 intra-op thread". */
    public String describeSession() {
        return intraOpThreads == 0 ? "with default session options"
                : "with " + intraOpThreads + " intra-op thread" + (intraOpThreads == 1 ? "" : "s");
    }

    /**
     * How a message names the run: "with default session options" for a deployer's, else the batch and the
     * threads ("at batch 64 with default session options", "at batch 1 with 1 intra-op thread").
     */
    public String describe() {
        if (equals(DEPLOYER)) {
            return "with default session options";
        }
        return "at batch " + batch + " " + describeSession();
    }
}
