package io.modelrefinery.api.event;

/**
 * How much work an {@code auto} search did, and how much it saved: the report's {@code search}.
 *
 * @param candidates candidates in the report
 * @param timed candidates timed against the original
 * @param notTimed candidates scored but never timed: they failed a quality gate, or could not win
 * @param notRun candidates never run: they could not pass (a recipe whose first steps only change weights, and
 *     whose rest alone failed a latency gate)
 * @param statisticsComputed statistics steps computed from the samples (calibrations), each once
 * @param statisticsReused times a step read statistics another candidate (or the previous version) computed
 * @param rememberedPipeline the recipe that won for the model's previous version, tried first; {@code null}
 *     when there was none (or the inputs changed)
 * @param rememberedVersion that previous version
 * @param rememberedChosen whether the remembered recipe passed and ended the search; {@code null} without one
 * @param candidatesSaved recipes not tried because the remembered one passed
 * @since 1.4
 */
public record SearchSummary(int candidates, int timed, int notTimed, int notRun, int statisticsComputed, int statisticsReused,
                            String rememberedPipeline, String rememberedVersion, Boolean rememberedChosen,
                            int candidatesSaved) {
}
