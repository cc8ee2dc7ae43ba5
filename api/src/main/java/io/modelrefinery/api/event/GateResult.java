package io.modelrefinery.api.event;

/**
 * One quality gate checked against an evaluation.
 *
 * @param gate the gate's name: {@code max-accuracy-drop}, {@code min-sqnr-db}, {@code min-top1-agreement}
 *     or {@code max-latency-ratio}
 * @param limit the configured bound
 * @param value the measured value compared with the bound
 * @param passed whether the value is within the bound
 * @param detail one line saying what was compared, and by how much it missed when it failed
 */
public record GateResult(String gate, double limit, double value, boolean passed, String detail) {
}
