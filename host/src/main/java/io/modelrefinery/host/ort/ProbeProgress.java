package io.modelrefinery.host.ort;

/**
 * How far the child got with a model, from the lines it writes as it goes ({@link ModelProbe}): the session
 * it was opening or had opened, and the run it was making. When the child dies, this says where: "opening its
 * output with default session options", "running its output at batch 64 with 1 intra-op thread".
 */
final class ProbeProgress {
    static final String OPENING = "opening ";
    static final String OPENED = "opened";
    static final String RUNNING = "running ";

    private ProbeRun run;
    private boolean opened;

    /** Takes one protocol line (without its prefix); other lines change nothing. */
    void accept(String line) {
        try {
            take(line);
        } catch (IllegalArgumentException e) {
            // a run this host did not ask for: the child is not the probe it should be; where it was stays unknown
        }
    }

    private void take(String line) {
        if (line.startsWith(OPENING)) {
            run = ProbeRun.parse(line.substring(OPENING.length()));
            opened = false;
        } else if (line.equals(OPENED)) {
            opened = true;
        } else if (line.startsWith(RUNNING)) {
            run = ProbeRun.parse(line.substring(RUNNING.length()));
            opened = true;
        }
    }

    /** Whether a session on the model was open when the child last said where it was. */
    boolean opened() {
        return opened;
    }

    /** The run the child was opening a session for or making; {@link ProbeRun#DEPLOYER} before it said any. */
    ProbeRun run() {
        return run == null ? ProbeRun.DEPLOYER : run;
    }
}
