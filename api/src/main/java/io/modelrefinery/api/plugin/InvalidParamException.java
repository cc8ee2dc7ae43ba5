package io.modelrefinery.api.plugin;

import io.modelrefinery.api.InvalidInputException;

import java.util.List;

/**
 * A pipeline parameter that is unknown, missing or has a value its spec refuses. {@link Params#parse}
 * reports every problem of a step at once: {@link #problems()} has one line per problem, and the
 * message (one line, like every {@link InvalidInputException}'s) counts and joins them.
 */
public class InvalidParamException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    private final List<String> problems;

    public InvalidParamException(String message) {
        super(message);
        this.problems = List.of(message);
    }

    /**
     * Several problems, each one line; the message is the problem when there is one, else
     * {@code "3 problems: first; second; third"}.
     *
     * @since 1.5
     */
    public InvalidParamException(List<String> problems) {
        super(requireSome(problems).size() == 1 ? problems.get(0)
                : problems.size() + " problems: " + String.join("; ", problems));
        // Each line made safe as the message is: names in them come from the pipeline, any bytes.
        this.problems = problems.stream().map(p -> new InvalidInputException(p).getMessage()).toList();
    }

    /**
     * Each problem, one line each, in the order of the descriptor's parameters.
     *
     * @since 1.5
     */
    public List<String> problems() {
        return problems;
    }

    private static List<String> requireSome(List<String> problems) {
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("an InvalidParamException needs at least one problem");
        }
        return problems;
    }
}
