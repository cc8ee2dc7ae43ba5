package io.modelrefinery.api.event;

/**
 * A model as its registry names it.
 *
 * @param name registered name
 * @param version registered version
 */
public record ModelRef(String name, String version) {
}
