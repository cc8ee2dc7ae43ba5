package io.modelrefinery.api.plugin;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParamsTest {
    enum Method { MIN_MAX, ENTROPY }

    static final ParamSpec<Double> SPARSITY = ParamSpec.decimal("sparsity").defaultValue(0.5)
            .validator(ParamValidator.atLeastAndBelow(0, 1)).doc("Share of zeros.").build();
    static final ParamSpec<Integer> BITS = ParamSpec.integer("bits").required()
            .validator(ParamValidator.between(2, 8)).doc("Bits per weight.").build();
    static final ParamSpec<Boolean> PER_CHANNEL = ParamSpec.bool("per-channel").defaultValue(true)
            .doc("One scale per output channel.").build();
    static final ParamSpec<Method> METHOD = ParamSpec.choice("method", Method.class).defaultValue(Method.MIN_MAX)
            .doc("Calibration method.").build();
    static final ParamSpec<List<String>> EXCLUDE = ParamSpec.list("exclude").defaultValue(List.of())
            .doc("Op types left alone.").build();

    static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("test-transform")
            .version("1.2.3").kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX)
            .summary("For tests.").param(SPARSITY).param(BITS).param(PER_CHANNEL).param(METHOD).param(EXCLUDE)
            .build();

    @Test
    void parsesEveryTypeAndFillsDefaults() {
        Params params = Params.parse(DESCRIPTOR, Map.of("bits", "4", "method", "entropy", "exclude", "[Conv, MatMul]"));

        assertEquals(0.5, params.get(SPARSITY));
        assertEquals(4, params.get(BITS));
        assertEquals(true, params.get(PER_CHANNEL));
        assertEquals(Method.ENTROPY, params.get(METHOD));
        assertEquals(List.of("Conv", "MatMul"), params.get(EXCLUDE));
        assertEquals(Map.of("sparsity", 0.5, "bits", 4, "per-channel", true, "method", "entropy",
                "exclude", List.of("Conv", "MatMul")), params.rendered());
    }

    @Test
    void namesTheBadValueAndWhatIsAccepted() {
        assertEquals("invalid value 1.5 for parameter 'sparsity' of 'test-transform': must be in [0, 1)",
                message(Map.of("bits", "4", "sparsity", "1.5")));
        assertEquals("invalid value 'many' for parameter 'bits' of 'test-transform': expected an integer "
                + "(For input string: \"many\")", message(Map.of("bits", "many")));
        assertEquals("invalid value 'kl' for parameter 'method' of 'test-transform': expected one of min-max, entropy",
                message(Map.of("bits", "4", "method", "kl")));
        assertEquals("unknown parameter 'sparsty' for 'test-transform' (known: [sparsity, bits, per-channel, method, "
                + "exclude])", message(Map.of("bits", "4", "sparsty", "0.2")));
        assertEquals("missing parameter 'bits' for 'test-transform': Bits per weight.", message(Map.of()));
        assertEquals("invalid value 'yes' for parameter 'per-channel' of 'test-transform': expected true or false "
                + "(not true or false)", message(Map.of("bits", "4", "per-channel", "yes")));
    }

    private static String message(Map<String, String> raw) {
        return assertThrows(InvalidParamException.class, () -> Params.parse(DESCRIPTOR, raw)).getMessage();
    }

    @Test
    void specsAndDescriptorsRefuseIncompleteDefinitions() {
        assertThrows(IllegalStateException.class, () -> ParamSpec.decimal("x").defaultValue(1.0).build());
        assertThrows(IllegalStateException.class, () -> ParamSpec.decimal("x").doc("d").build());
        assertThrows(InvalidParamException.class, () -> ParamSpec.decimal("x").defaultValue(2.0)
                .validator(ParamValidator.between(0, 1)).doc("d").build());
        assertThrows(IllegalArgumentException.class, () -> ParamSpec.decimal("Bad_Name"));
        assertThrows(IllegalStateException.class, () -> TransformDescriptor.builder("t").version("1.0.0").build());
        assertThrows(IllegalArgumentException.class, () -> TransformDescriptor.builder("t").version("1.0"));
    }

    @Test
    void comparesSemanticVersions() {
        assertEquals(-1, Integer.signum(TransformDescriptor.compareVersions("1.9.0", "1.10.0")));
        assertEquals(-1, Integer.signum(TransformDescriptor.compareVersions("2.0.0-rc1", "2.0.0")));
        assertEquals(0, TransformDescriptor.compareVersions("1.0.0", "1.0.0"));
    }

    @Test
    void dataRequiredForOneParameterValueOnly() {
        TransformDescriptor d = TransformDescriptor.builder("conditional").version("1.0.0").kind(TransformKind.COMPRESSOR)
                .accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("For tests.").param(METHOD)
                .requires(DataRole.EVALUATION).requiresWhen(DataRole.CALIBRATION, METHOD, Method.ENTROPY).build();

        assertEquals(java.util.Set.of(DataRole.EVALUATION), d.requiredData());
        assertEquals(java.util.Set.of(DataRole.EVALUATION), d.requiredData(Params.defaults(d)));
        assertEquals(java.util.Set.of(DataRole.EVALUATION, DataRole.CALIBRATION),
                d.requiredData(Params.parse(d, Map.of("method", "entropy"))));
        assertEquals("calibration when method=entropy", d.conditionalData().get(0).toString());
        assertThrows(IllegalStateException.class, () -> TransformDescriptor.builder("undeclared").version("1.0.0")
                .kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("x")
                .requiresWhen(DataRole.CALIBRATION, METHOD, Method.ENTROPY).build());
    }

    @Test
    void dataRequiredForParameterValuesThatPassATest() {
        ParamSpec<Integer> epochs = ParamSpec.integer("finetune").defaultValue(0).doc("Epochs.").build();
        TransformDescriptor d = TransformDescriptor.builder("conditional").version("1.0.0").kind(TransformKind.COMPRESSOR)
                .accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("For tests.").param(epochs)
                .requiresWhen(DataRole.TRAINING, epochs, e -> e > 0, "finetune>0").build();

        assertEquals(java.util.Set.of(), d.requiredData(Params.defaults(d)));
        assertEquals(java.util.Set.of(DataRole.TRAINING), d.requiredData(Params.parse(d, Map.of("finetune", "2"))));
        assertEquals("training when finetune>0", d.conditionalData().get(0).toString());
        assertThrows(IllegalArgumentException.class, () -> TransformDescriptor.builder("blank").version("1.0.0")
                .requiresWhen(DataRole.TRAINING, epochs, e -> e > 0, " "));
    }

    @Test
    void rulesOverSeveralParametersRefuseTheCombinationWhenParsed() {
        TransformDescriptor d = TransformDescriptor.builder("combined").version("1.0.0").kind(TransformKind.COMPRESSOR)
                .accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("For tests.").param(SPARSITY).param(BITS)
                .check(p -> p.get(BITS) < 8 && p.get(SPARSITY) > 0.9
                        ? java.util.Optional.of("bits " + p.get(BITS) + " with sparsity " + p.get(SPARSITY) + " leaves nothing")
                        : java.util.Optional.empty())
                .build();

        assertEquals(4, Params.parse(d, Map.of("bits", "4", "sparsity", "0.5")).get(BITS));
        assertEquals(8, Params.parse(d, Map.of("bits", "8", "sparsity", "0.95")).get(BITS));
        assertEquals("invalid parameters for 'combined': bits 4 with sparsity 0.95 leaves nothing",
                assertThrows(InvalidParamException.class, () -> Params.parse(d, Map.of("bits", "4", "sparsity", "0.95")))
                        .getMessage());
    }

    /** A value type of a plugin's own, as prune's N:M pattern. */
    record Pattern(int n, int m) {
        static Pattern parse(String text) {
            String[] parts = text.split(":");
            if (parts.length != 2) {
                throw new IllegalArgumentException("not N:M");
            }
            int n = Integer.parseInt(parts[0]);
            int m = Integer.parseInt(parts[1]);
            if (n >= m) {
                throw new IllegalArgumentException("N must be below M");
            }
            return new Pattern(n, m);
        }

        @Override
        public String toString() {
            return n + ":" + m;
        }
    }

    static final ParamSpec<Pattern> PATTERN = ParamSpec.parsed("pattern", Pattern::parse, Pattern::toString)
            .accepts("N:M such as 2:4").defaultValue(new Pattern(2, 4)).doc("Weights kept of each group.").build();
    static final ParamSpec<Map<String, Double>> LAYER_SPARSITY = ParamSpec.map("layer-sparsity", Double::valueOf)
            .validator(ParamValidator.eachValue(ParamValidator.atLeastAndBelow(0, 1))).defaultValue(Map.of())
            .doc("Per-layer sparsity.").build();
    static final TransformDescriptor TYPED = TransformDescriptor.builder("typed").version("1.0.0")
            .kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("For tests.")
            .param(PATTERN).param(LAYER_SPARSITY).param(SPARSITY).build();

    @Test
    void parsedValuesAreReadAndRefusedWhenThePipelineIsValidated() {
        Params params = Params.parse(TYPED, Map.of("pattern", " 1:4 ", "layer-sparsity", "[/c2/Conv=0.9, a=b=0.25]"));

        assertEquals(new Pattern(1, 4), params.get(PATTERN));
        assertEquals(List.of("/c2/Conv", "a=b"), List.copyOf(params.get(LAYER_SPARSITY).keySet()));
        assertEquals(0.25, params.get(LAYER_SPARSITY).get("a=b"));
        assertEquals("1:4", params.rendered().get("pattern"));
        assertEquals(Map.of("/c2/Conv", 0.9, "a=b", 0.25), params.rendered().get("layer-sparsity"));
        assertEquals("[/c2/Conv=0.9,a=b=0.25]", LAYER_SPARSITY.write(params.get(LAYER_SPARSITY)));
        assertEquals(params.get(LAYER_SPARSITY), LAYER_SPARSITY.parse(LAYER_SPARSITY.write(params.get(LAYER_SPARSITY)), "t"));
        assertEquals("N:M such as 2:4", PATTERN.validValues());

        assertEquals("invalid value '4:2' for parameter 'pattern' of 'typed': N must be below M (expected N:M such as 2:4)",
                typedMessage(Map.of("pattern", "4:2")));
        assertEquals("invalid value '[a=0.5,a=0.6]' for parameter 'layer-sparsity' of 'typed': expected NAME=VALUE pairs "
                + "such as [a=1,b=2] ('a' given twice)", typedMessage(Map.of("layer-sparsity", "[a=0.5,a=0.6]")));
        assertEquals("invalid value '[a]' for parameter 'layer-sparsity' of 'typed': expected NAME=VALUE pairs "
                + "such as [a=1,b=2] ('a' is not NAME=VALUE)", typedMessage(Map.of("layer-sparsity", "[a]")));
        assertEquals("invalid value {a=1.5} for parameter 'layer-sparsity' of 'typed': must have values that are in "
                + "[0, 1) (a=1.5)", typedMessage(Map.of("layer-sparsity", "[a=1.5]")));
    }

    private static String typedMessage(Map<String, String> raw) {
        return assertThrows(InvalidParamException.class, () -> Params.parse(TYPED, raw)).getMessage();
    }

    @Test
    void everyProblemIsReportedAtOnceOneLineEach() {
        Map<String, String> raw = new java.util.LinkedHashMap<>();
        raw.put("sparsty", "0.2");
        raw.put("sparsity", "1.5");
        raw.put("method", "kl");
        InvalidParamException e = assertThrows(InvalidParamException.class, () -> Params.parse(DESCRIPTOR, raw));

        assertEquals(List.of(
                "unknown parameter 'sparsty' for 'test-transform' (known: [sparsity, bits, per-channel, method, exclude])",
                "invalid value 1.5 for parameter 'sparsity' of 'test-transform': must be in [0, 1)",
                "missing parameter 'bits' for 'test-transform': Bits per weight.",
                "invalid value 'kl' for parameter 'method' of 'test-transform': expected one of min-max, entropy"),
                e.problems());
        assertEquals("4 problems: " + String.join("; ", e.problems()), e.getMessage());
    }

    @Test
    void validatorsExposeTheirBoundsAndAllowedValues() {
        assertEquals(java.util.Optional.of(new ParamValidator.Range(0, true, 1, false)), SPARSITY.range());
        assertEquals(java.util.Optional.of(new ParamValidator.Range(2, true, 8, true)), BITS.range());
        assertEquals(java.util.Optional.of(new ParamValidator.Range(0, true, 1, false)), LAYER_SPARSITY.range());
        assertEquals(new ParamValidator.Range(50, false, 100, true), ParamValidator.aboveAndAtMost(50, 100).range().orElseThrow());
        assertEquals("(50, 100]", ParamValidator.aboveAndAtMost(50, 100).describe());
        assertEquals(new ParamValidator.Range(0, true, Double.POSITIVE_INFINITY, false),
                ParamValidator.atLeast(0).range().orElseThrow());
        assertEquals(java.util.Optional.empty(), PER_CHANNEL.range());
        assertEquals(List.of("min-max", "entropy"), METHOD.allowedValues());
        assertEquals(List.of("a", "b"), ParamValidator.oneOf("a", "b").allowedValues());
        assertEquals("be one of a, b", ParamValidator.oneOf("a", "b").problem("c"));
        assertEquals(List.of(), EXCLUDE.allowedValues());
    }

    @Test
    void aFormerNameIsAcceptedWithAWarningAndTheSharedVocabularyCarriesRoles() {
        ParamSpec<List<String>> excludeNodes = CommonParams.excludeNodes().deprecatedAlias("skip")
                .doc("Layers left dense.").build();
        ParamSpec<Integer> seed = CommonParams.seed().build();
        TransformDescriptor d = TransformDescriptor.builder("renamed").version("1.1.0").kind(TransformKind.COMPRESSOR)
                .accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("For tests.").param(excludeNodes)
                .param(seed).build();

        Params old = Params.parse(d, Map.of("skip", "[a,b]"));
        assertEquals(List.of("a", "b"), old.get(excludeNodes));
        assertEquals(List.of("parameter 'skip' of 'renamed' is deprecated: write 'exclude-nodes' (the old name goes "
                + "in the next minor version)"), old.warnings());
        assertEquals(List.of(), Params.parse(d, Map.of("exclude-nodes", "[a]")).warnings());
        assertEquals("parameters 'skip' and 'exclude-nodes' of 'renamed' are the same, under its former and its "
                + "current name: give only 'exclude-nodes'", assertThrows(InvalidParamException.class,
                () -> Params.parse(d, Map.of("skip", "[a]", "exclude-nodes", "[b]"))).getMessage());

        assertEquals(java.util.Optional.of(excludeNodes), d.param(ParamRole.NODE_EXCLUSION));
        assertEquals(java.util.Optional.of(seed), d.param(ParamRole.SEED));
        assertEquals(java.util.Optional.empty(), d.param(ParamRole.BATCH_SIZE));
        assertEquals(1, seed.defaultValue());
        assertEquals(List.of("skip"), excludeNodes.deprecatedAliases());

        TransformDescriptor.Builder twice = TransformDescriptor.builder("twice").version("1.0.0")
                .kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("x")
                .param(excludeNodes);
        assertThrows(IllegalArgumentException.class, () -> twice.param(ParamSpec.list("skip").defaultValue(List.of())
                .doc("Clashes with a former name.").build()));
        assertThrows(IllegalArgumentException.class, () -> twice.param(ParamSpec.list("layers-left").defaultValue(List.of())
                .role(ParamRole.NODE_EXCLUSION).doc("A second parameter in the same role.").build()));
        assertThrows(IllegalStateException.class, () -> ParamSpec.integer("nodes").defaultValue(1)
                .role(ParamRole.NODE_EXCLUSION).doc("Not a list.").build());
    }

    @Test
    void descriptorsDeclareRecipesALayerFallbackAndOptionalParameters() {
        ParamSpec<List<String>> keepFloat = ParamSpec.list("keep-float").defaultValue(List.of())
                .role(ParamRole.NODE_EXCLUSION).doc("Nodes left float.").build();
        ParamSpec<Double> limit = ParamSpec.decimal("limit").optional().validator(ParamValidator.between(0, 1))
                .doc("Off unless set.").build();
        TransformDescriptor d = TransformDescriptor.builder("vendor-quantizer").version("1.0.0")
                .kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("For tests.")
                .param(keepFloat).param(limit).recipe("vendor-quantizer").recipe(" vendor-quantizer(limit=0.5),fp16 ")
                .layerFallback().build();

        assertEquals(List.of("vendor-quantizer", "vendor-quantizer(limit=0.5),fp16"), d.recipes());
        assertEquals(true, d.layerFallback());
        assertEquals(java.util.Optional.empty(), Params.defaults(d).find(limit));
        assertEquals(java.util.Optional.of(0.5), Params.parse(d, Map.of("limit", "0.5")).find(limit));
        assertEquals(null, Params.defaults(d).rendered().get("limit"));
        assertEquals(true, limit.optional());

        TransformDescriptor.Builder other = TransformDescriptor.builder("other").version("1.0.0")
                .kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("x");
        assertThrows(IllegalArgumentException.class, () -> other.recipe("vendor-quantizer"));
        assertThrows(IllegalArgumentException.class, () -> other.recipe("other-thing"));
        assertThrows(IllegalStateException.class, () -> other.layerFallback().build(), "no NODE_EXCLUSION parameter");
        assertThrows(IllegalStateException.class, () -> ParamSpec.decimal("x").optional().defaultValue(1.0)
                .doc("Both.").build());
    }
}
