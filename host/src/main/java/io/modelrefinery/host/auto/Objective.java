package io.modelrefinery.host.auto;

/** What the {@code auto} pipeline minimizes among the candidates that pass the gates. */
public enum Objective {
    /** The smallest zipped model; latency breaks ties. */
    SIZE,
    /** The lowest median latency; size breaks ties. */
    LATENCY,
    /** The lowest geometric mean of the size ratio and the latency ratio against the original. */
    BALANCED
}
