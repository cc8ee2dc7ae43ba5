package io.modelrefinery.api.plugin;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a transform is: id, version, kind, the formats it reads and writes, and its typed parameters.
 * The host lists descriptors ({@code refinery plugins}, {@code GET /plugins}), validates pipelines
 * against them before any work, and picks the highest version when several plugins share an id.
 */
public final class TransformDescriptor {
    private static final Pattern ID = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");
    private static final Pattern SEMVER = Pattern.compile("(\\d+)\\.(\\d+)\\.(\\d+)(?:-([0-9A-Za-z.-]+))?");

    private final String id;
    private final String version;
    private final TransformKind kind;
    private final Set<ModelFormat> inputFormats;
    private final ModelFormat outputFormat;
    private final String summary;
    private final List<ParamSpec<?>> params;
    private final Set<DataRole> requiredData;
    private final List<DataRequirement> conditionalData;
    private final List<ParamsCheck> checks;
    private final List<String> recipes;
    private final boolean layerFallback;
    private final Predicate<Params> keepsGraph;
    private final int minimumOpset;
    private final List<ConditionalOpset> conditionalOpsets;

    private TransformDescriptor(Builder b) {
        this.id = b.id;
        this.version = b.version;
        this.kind = b.kind;
        this.inputFormats = Collections.unmodifiableSet(new LinkedHashSet<>(b.inputFormats));
        this.outputFormat = b.outputFormat;
        this.summary = b.summary;
        this.params = List.copyOf(b.params);
        this.requiredData = b.requiredData.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(b.requiredData));
        this.conditionalData = List.copyOf(b.conditionalData);
        this.checks = List.copyOf(b.checks);
        this.recipes = List.copyOf(b.recipes);
        this.layerFallback = b.layerFallback;
        this.keepsGraph = b.keepsGraph;
        this.minimumOpset = b.minimumOpset;
        this.conditionalOpsets = List.copyOf(b.conditionalOpsets);
    }

    public static Builder builder(String id) {
        return new Builder(id);
    }

    /** Lowercase words joined by dashes, as written in pipelines: {@code quantize-dynamic}. */
    public String id() {
        return id;
    }

    /** Semantic version of the transform's behaviour: {@code MAJOR.MINOR.PATCH[-qualifier]}. */
    public String version() {
        return version;
    }

    public TransformKind kind() {
        return kind;
    }

    public Set<ModelFormat> inputFormats() {
        return inputFormats;
    }

    public boolean accepts(ModelFormat format) {
        return inputFormats.contains(format);
    }

    public ModelFormat outputFormat() {
        return outputFormat;
    }

    /** One sentence on what the transform does. */
    public String summary() {
        return summary;
    }

    public List<ParamSpec<?>> params() {
        return params;
    }

    /** Datasets every job must bring for this transform; the host checks them before any step runs. */
    public Set<DataRole> requiredData() {
        return requiredData;
    }

    /**
     * Datasets needed only for some parameter values, such as calibration samples for
     * {@code prune(method=reconstruct)}; empty for most transforms.
     *
     * @since 1.2
     */
    public List<DataRequirement> conditionalData() {
        return conditionalData;
    }

    /**
     * A rule over several parameters together (each value valid alone, the combination not), checked by
     * {@link Params#parse} like each parameter's own validator: before any work.
     *
     * @since 1.4
     */
    @FunctionalInterface
    public interface ParamsCheck {
        /** One line naming the parameters and values that do not go together, or empty when they do. */
        Optional<String> problem(Params params);
    }

    /**
     * The rules over several parameters, in declaration order.
     *
     * @since 1.4
     */
    public List<ParamsCheck> checks() {
        return checks;
    }

    /**
     * Pipelines worth trying with this transform, as a pipeline writes them, each starting with this
     * transform: {@code quantize-static(method=entropy)}, or {@code prune(sparsity=0.5),quantize-dynamic}.
     * The host's {@code auto} search tries the recipes of every installed transform; a recipe naming a
     * transform that is not installed, or needing data the job lacks, is listed as skipped.
     *
     * @since 1.5
     */
    public List<String> recipes() {
        return recipes;
    }

    /**
     * Whether leaving layers as they are can make up for a quality gate this transform's result fails:
     * then {@code auto} retries a failed recipe with its most sensitive layers named in the
     * {@link ParamRole#NODE_EXCLUSION} parameter, which the descriptor declares.
     *
     * @since 1.5
     */
    public boolean layerFallback() {
        return layerFallback;
    }

    /**
     * Whether this transform with {@code values} changes only weight values: its output has the input's
     * nodes, operators and shapes (unstructured pruning, say). The host's {@code auto} search then knows that a
     * recipe starting with it runs as fast as the rest of the recipe alone, and does not run a recipe that
     * could only fail a latency gate its rest already failed. False unless the descriptor says so.
     *
     * @since 1.6
     */
    public boolean keepsGraph(Params values) {
        return keepsGraph.test(values);
    }

    /**
     * The oldest version of the default ONNX operator set the transform works on, 0 when it takes any: the
     * host puts an ONNX-to-ONNX converter with a {@link ParamRole#TARGET_OPSET} parameter in front of the
     * step when the model it receives is older, as a step of its own (and the transform may still refuse a
     * model it receives older, if no such converter is installed).
     *
     * @since 1.6
     */
    public int minimumOpset() {
        return minimumOpset;
    }

    /**
     * The oldest default-domain opset the transform works on with {@code values}: {@link #minimumOpset()}, or
     * a later one a {@link Builder#minimumOpsetWhen} condition names when the values meet it (training needs
     * opset 16, say, while the rest of the transform takes any). The host plans the upgrade by this one.
     *
     * @since 1.6
     */
    public int minimumOpset(Params values) {
        int minimum = minimumOpset;
        for (ConditionalOpset c : conditionalOpsets) {
            if (c.opset() > minimum && c.when().test(values)) {
                minimum = c.opset();
            }
        }
        return minimum;
    }

    /**
     * The condition in words under which {@code values} raise the minimum opset ({@code finetune>0}), empty
     * when {@link #minimumOpset()} alone holds for them.
     *
     * @since 1.6
     */
    public Optional<String> minimumOpsetCondition(Params values) {
        int minimum = minimumOpset;
        String condition = null;
        for (ConditionalOpset c : conditionalOpsets) {
            if (c.opset() > minimum && c.when().test(values)) {
                minimum = c.opset();
                condition = c.condition();
            }
        }
        return Optional.ofNullable(condition);
    }

    /** A minimum opset that holds only for some parameter values. */
    private record ConditionalOpset(int opset, Predicate<Params> when, String condition) {
    }

    /**
     * Datasets a job must bring for this transform with {@code values}: {@link #requiredData()} and every
     * {@link #conditionalData()} entry that applies to them. The host checks them before any step runs.
     *
     * @since 1.2
     */
    public Set<DataRole> requiredData(Params values) {
        if (conditionalData.isEmpty()) {
            return requiredData;
        }
        Set<DataRole> roles = EnumSet.noneOf(DataRole.class);
        roles.addAll(requiredData);
        for (DataRequirement requirement : conditionalData) {
            if (requirement.appliesTo(values)) {
                roles.add(requirement.role());
            }
        }
        return Collections.unmodifiableSet(roles);
    }

    /**
     * The parameter in {@code role}, if the transform declares one: how the host finds a parameter
     * whatever the transform calls it.
     *
     * @since 1.5
     */
    public Optional<ParamSpec<?>> param(ParamRole role) {
        for (ParamSpec<?> spec : params) {
            if (spec.role().equals(Optional.of(role))) {
                return Optional.of(spec);
            }
        }
        return Optional.empty();
    }

    /**
     * The parameter called {@code name} now or formerly ({@link ParamSpec#deprecatedAliases()}).
     *
     * @since 1.5
     */
    public Optional<ParamSpec<?>> paramOrAlias(String name) {
        for (ParamSpec<?> spec : params) {
            if (spec.name().equals(name) || spec.deprecatedAliases().contains(name)) {
                return Optional.of(spec);
            }
        }
        return Optional.empty();
    }

    public Optional<ParamSpec<?>> param(String name) {
        for (ParamSpec<?> spec : params) {
            if (spec.name().equals(name)) {
                return Optional.of(spec);
            }
        }
        return Optional.empty();
    }

    /**
     * Orders semantic versions: numerically by major, minor, patch; a pre-release qualifier sorts before
     * the release.
     */
    public static int compareVersions(String a, String b) {
        Matcher ma = semver(a);
        Matcher mb = semver(b);
        for (int group = 1; group <= 3; group++) {
            int c = Long.compare(Long.parseLong(ma.group(group)), Long.parseLong(mb.group(group)));
            if (c != 0) {
                return c;
            }
        }
        String qa = ma.group(4);
        String qb = mb.group(4);
        if (qa == null || qb == null) {
            return qa == null ? (qb == null ? 0 : 1) : -1;
        }
        return qa.compareTo(qb);
    }

    private static Matcher semver(String version) {
        Matcher m = SEMVER.matcher(version);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a semantic version: '" + version + "'");
        }
        return m;
    }

    @Override
    public String toString() {
        return id + " " + version;
    }

    /**
     * A dataset needed when one parameter has one value.
     *
     * @since 1.2
     */
    public static final class DataRequirement {
        private final DataRole role;
        private final ParamSpec<?> param;
        private final Predicate<Object> test;
        private final String condition;

        private DataRequirement(DataRole role, ParamSpec<?> param, Predicate<Object> test, String condition) {
            this.role = role;
            this.param = param;
            this.test = test;
            this.condition = condition;
        }

        public DataRole role() {
            return role;
        }

        /** The parameter whose value decides. */
        public ParamSpec<?> param() {
            return param;
        }

        /** The condition as written in a pipeline: {@code method=reconstruct}, or {@code finetune>0}. */
        public String condition() {
            return condition;
        }

        /** Whether {@code values} set the parameter to a value that needs the dataset. */
        public boolean appliesTo(Params values) {
            return test.test(values.get(param));
        }

        @SuppressWarnings("unchecked")
        private static <T> Object render(ParamSpec<T> spec, Object value) {
            return spec.render((T) value);
        }

        @Override
        public String toString() {
            return role.label() + " when " + condition();
        }
    }

    /** Builds a descriptor; id, version, kind, input and output formats and a summary are required. */
    public static final class Builder {
        private final String id;
        private String version;
        private TransformKind kind;
        private final Set<ModelFormat> inputFormats = new LinkedHashSet<>();
        private ModelFormat outputFormat;
        private String summary;
        private final List<ParamSpec<?>> params = new ArrayList<>();
        private final Set<DataRole> requiredData = EnumSet.noneOf(DataRole.class);
        private final List<DataRequirement> conditionalData = new ArrayList<>();
        private final List<ParamsCheck> checks = new ArrayList<>();
        private final List<String> recipes = new ArrayList<>();
        private boolean layerFallback;
        private Predicate<Params> keepsGraph = values -> false;
        private int minimumOpset;
        private final List<ConditionalOpset> conditionalOpsets = new ArrayList<>();

        private Builder(String id) {
            if (id == null || !ID.matcher(id).matches()) {
                throw new IllegalArgumentException("transform id must be lowercase words joined by dashes: '" + id + "'");
            }
            this.id = id;
        }

        public Builder version(String semanticVersion) {
            semver(semanticVersion);
            this.version = semanticVersion;
            return this;
        }

        public Builder kind(TransformKind transformKind) {
            this.kind = Objects.requireNonNull(transformKind, "kind");
            return this;
        }

        public Builder accepts(ModelFormat... formats) {
            inputFormats.addAll(List.of(formats));
            return this;
        }

        public Builder produces(ModelFormat format) {
            this.outputFormat = Objects.requireNonNull(format, "format");
            return this;
        }

        public Builder summary(String text) {
            this.summary = text;
            return this;
        }

        /** Datasets the transform cannot work without, such as calibration samples for static quantization. */
        public Builder requires(DataRole... roles) {
            requiredData.addAll(List.of(roles));
            return this;
        }

        /**
         * A dataset the transform needs only when {@code param} (declared with {@link #param}) is set to
         * {@code value}, such as calibration samples for {@code prune(method=reconstruct)}.
         *
         * @since 1.2
         */
        public <T> Builder requiresWhen(DataRole role, ParamSpec<T> param, T value) {
            Objects.requireNonNull(value, "value");
            conditionalData.add(new DataRequirement(Objects.requireNonNull(role, "role"),
                    Objects.requireNonNull(param, "param"), v -> Objects.equals(v, value),
                    param.name() + "=" + DataRequirement.render(param, value)));
            return this;
        }

        /**
         * A dataset the transform needs only when {@code param}'s value passes {@code test}, such as
         * training samples for {@code prune(finetune=EPOCHS)} with more than 0 epochs.
         *
         * @param condition the test as users read it in messages: {@code finetune>0}
         * @since 1.3
         */
        @SuppressWarnings("unchecked")
        public <T> Builder requiresWhen(DataRole role, ParamSpec<T> param, Predicate<? super T> test, String condition) {
            Objects.requireNonNull(test, "test");
            if (condition == null || condition.isBlank()) {
                throw new IllegalArgumentException("a data requirement needs its condition in words");
            }
            conditionalData.add(new DataRequirement(Objects.requireNonNull(role, "role"),
                    Objects.requireNonNull(param, "param"), v -> ((Predicate<Object>) test).test(v), condition));
            return this;
        }

        /**
         * Adds a rule over several parameters, such as "initial-sparsity at most sparsity".
         *
         * @since 1.4
         */
        public Builder check(ParamsCheck check) {
            checks.add(Objects.requireNonNull(check, "check"));
            return this;
        }

        /**
         * A pipeline worth trying with this transform, starting with it: {@code quantize-static(method=entropy)}.
         *
         * @since 1.5
         */
        public Builder recipe(String pipeline) {
            String text = Objects.requireNonNull(pipeline, "pipeline").strip();
            boolean startsHere = text.equals(id) || text.startsWith(id + "(") || text.startsWith(id + ",");
            if (!startsHere) {
                throw new IllegalArgumentException("a recipe of '" + id + "' must start with '" + id + "': '" + pipeline + "'");
            }
            recipes.add(text);
            return this;
        }

        /**
         * Leaving layers as they are can make up for a failed quality gate; see
         * {@link TransformDescriptor#layerFallback()}. Needs a {@link ParamRole#NODE_EXCLUSION} parameter.
         *
         * @since 1.5
         */
        public Builder layerFallback() {
            this.layerFallback = true;
            return this;
        }

        /**
         * With parameter values that pass {@code when}, the transform changes only weight values; see
         * {@link TransformDescriptor#keepsGraph(Params)}.
         *
         * @since 1.6
         */
        public Builder keepsGraph(Predicate<Params> when) {
            this.keepsGraph = Objects.requireNonNull(when, "when");
            return this;
        }

        /**
         * The oldest default-domain opset the transform works on; see {@link TransformDescriptor#minimumOpset()}.
         *
         * @since 1.6
         */
        public Builder minimumOpset(int opset) {
            if (opset < 1) {
                throw new IllegalArgumentException("'" + id + "': a minimum opset is at least 1: " + opset);
            }
            this.minimumOpset = opset;
            return this;
        }

        /**
         * A later minimum opset that holds only for parameter values passing {@code when}, such as training
         * (opset 16) for {@code prune(finetune=EPOCHS)} with more than 0 epochs; see
         * {@link TransformDescriptor#minimumOpset(Params)}.
         *
         * @param condition the test as users read it in notes: {@code finetune>0}
         * @since 1.6
         */
        public Builder minimumOpsetWhen(int opset, Predicate<Params> when, String condition) {
            if (opset < 1) {
                throw new IllegalArgumentException("'" + id + "': a minimum opset is at least 1: " + opset);
            }
            if (condition == null || condition.isBlank()) {
                throw new IllegalArgumentException("'" + id + "': a conditional minimum opset needs its condition in words");
            }
            conditionalOpsets.add(new ConditionalOpset(opset, Objects.requireNonNull(when, "when"), condition));
            return this;
        }

        public Builder param(ParamSpec<?> spec) {
            List<String> names = new ArrayList<>(spec.deprecatedAliases());
            names.add(spec.name());
            for (ParamSpec<?> existing : params) {
                for (String name : names) {
                    if (existing.name().equals(name) || existing.deprecatedAliases().contains(name)) {
                        throw new IllegalArgumentException("'" + id + "' declares parameter '" + name + "' twice");
                    }
                }
                if (spec.role().isPresent() && spec.role().equals(existing.role())) {
                    throw new IllegalArgumentException("'" + id + "' declares two parameters in role "
                            + spec.role().get() + ": '" + existing.name() + "' and '" + spec.name() + "'");
                }
            }
            params.add(spec);
            return this;
        }

        public TransformDescriptor build() {
            List<String> missing = new ArrayList<>();
            if (version == null) {
                missing.add("version");
            }
            if (kind == null) {
                missing.add("kind");
            }
            if (inputFormats.isEmpty()) {
                missing.add("accepts");
            }
            if (outputFormat == null) {
                missing.add("produces");
            }
            if (summary == null || summary.isBlank()) {
                missing.add("summary");
            }
            if (!missing.isEmpty()) {
                throw new IllegalStateException("descriptor of '" + id + "' is missing " + missing);
            }
            for (DataRequirement requirement : conditionalData) {
                if (!params.contains(requirement.param())) {
                    throw new IllegalStateException("descriptor of '" + id + "' requires data when '"
                            + requirement.param().name() + "' is set, a parameter it does not declare");
                }
            }
            if (layerFallback && params.stream().noneMatch(p -> p.role().equals(Optional.of(ParamRole.NODE_EXCLUSION)))) {
                throw new IllegalStateException("descriptor of '" + id + "' declares a layer fallback without a "
                        + "parameter in role NODE_EXCLUSION to leave layers out with");
            }
            return new TransformDescriptor(this);
        }
    }
}
