package io.modelrefinery.host.pipeline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A pipeline as users write it: steps separated by commas, parameters in parentheses, list values in
 * brackets. {@code prune(sparsity=0.8),quantize-static(method=entropy,exclude=[Softmax,Sigmoid])}.
 * Parsing checks syntax only; {@link PipelinePlan} checks transforms and parameter values.
 */
public final class PipelineSpec {
    private static final Pattern STEP = Pattern.compile("([a-z][a-z0-9]*(?:-[a-z0-9]+)*)\\s*(?:\\((.*)\\))?",
            Pattern.DOTALL);
    private static final Pattern PARAM = Pattern.compile("\\s*([a-z][a-z0-9]*(?:-[a-z0-9]+)*)\\s*=\\s*(.*?)\\s*",
            Pattern.DOTALL);

    private final List<StepSpec> steps;

    private PipelineSpec(List<StepSpec> steps) {
        this.steps = List.copyOf(steps);
    }

    public static PipelineSpec of(List<StepSpec> steps) {
        return new PipelineSpec(steps);
    }

    /**
     * Parses a spec.
     *
     * @throws PipelineSyntaxException naming the part that does not parse
     */
    public static PipelineSpec parse(String text) {
        if (text == null || text.isBlank()) {
            throw new PipelineSyntaxException("pipeline is empty");
        }
        List<StepSpec> steps = new ArrayList<>();
        for (String part : splitTopLevel(text, text)) {
            String step = part.trim();
            if (step.isEmpty()) {
                throw new PipelineSyntaxException("pipeline '" + text + "' has an empty step");
            }
            Matcher m = STEP.matcher(step);
            if (!m.matches()) {
                throw new PipelineSyntaxException("pipeline '" + text + "': step '" + step
                        + "' is not NAME or NAME(param=value,...) with a lowercase dashed name");
            }
            steps.add(new StepSpec(m.group(1), m.group(2) == null ? Map.of() : params(m.group(2), m.group(1), text)));
        }
        return new PipelineSpec(steps);
    }

    private static Map<String, String> params(String body, String step, String text) {
        Map<String, String> params = new LinkedHashMap<>();
        if (body.isBlank()) {
            return params;
        }
        for (String part : splitTopLevel(body, text)) {
            Matcher m = PARAM.matcher(part);
            if (!m.matches() || m.group(2).isEmpty()) {
                throw new PipelineSyntaxException("pipeline '" + text + "': parameter '" + part.trim() + "' of '" + step
                        + "' is not name=value");
            }
            if (params.put(m.group(1), m.group(2)) != null) {
                throw new PipelineSyntaxException("pipeline '" + text + "': parameter '" + m.group(1) + "' of '" + step
                        + "' is set twice");
            }
        }
        return params;
    }

    /** Splits at commas outside parentheses and brackets, checking that both balance. */
    private static List<String> splitTopLevel(String s, String text) {
        List<String> parts = new ArrayList<>();
        int parens = 0;
        int brackets = 0;
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(') {
                parens++;
            } else if (c == ')') {
                parens--;
            } else if (c == '[') {
                brackets++;
            } else if (c == ']') {
                brackets--;
            } else if (c == ',' && parens == 0 && brackets == 0) {
                parts.add(s.substring(start, i));
                start = i + 1;
            }
            if (parens < 0 || brackets < 0) {
                throw new PipelineSyntaxException("pipeline '" + text + "': unexpected '" + c + "' at position " + (i + 1));
            }
        }
        if (parens != 0 || brackets != 0) {
            throw new PipelineSyntaxException("pipeline '" + text + "': missing '" + (parens != 0 ? ")" : "]") + "'");
        }
        parts.add(s.substring(start));
        return parts;
    }

    public List<StepSpec> steps() {
        return steps;
    }

    /** The spec written canonically: no spaces, parameters in the order given. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (StepSpec step : steps) {
            sb.append(sb.length() == 0 ? "" : ",").append(step);
        }
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PipelineSpec && ((PipelineSpec) o).steps.equals(steps);
    }

    @Override
    public int hashCode() {
        return steps.hashCode();
    }
}
