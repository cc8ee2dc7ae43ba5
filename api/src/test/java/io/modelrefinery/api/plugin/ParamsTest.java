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
}
