package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.LayerSensitivity;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

import java.util.HashSet;
import java.util.List;
import java.util.Optional;

/**
 * {@code quantize-weights}: 4- or 8-bit block-wise weight-only quantization, as ONNX Runtime runs it
 * (MatMulNBits, GatherBlockQuantized): the recipe for transformers, whose size is in their MatMul weights and
 * embedding tables. Activations stay float. Round-to-nearest needs no data; GPTQ compensates rounding errors
 * with the layer Hessians of calibration samples; HQQ moves zero points off the grid, without data.
 */
@Component(service = ModelTransform.class)
public final class QuantizeWeightsTransform implements ModelTransform {
    /** How the codes are chosen. */
    public enum Method { RTN, GPTQ, HQQ }

    /** What MatMulNBits multiplies in. */
    public enum Compute { FLOAT, INT8 }

    static final ParamSpec<Integer> BITS = ParamSpec.integer("bits").defaultValue(4)
            .validator(oneOf(List.of(4, 8))).doc("Bits per weight: 4 or 8.").build();
    static final ParamSpec<Integer> BLOCK_SIZE = ParamSpec.integer("block-size").defaultValue(32)
            .validator(oneOf(List.of(16, 32, 64, 128, 256)))
            .doc("Weights per scale along the input axis (K, or an embedding's width): smaller is more accurate "
                    + "and larger on disk.").build();
    static final ParamSpec<Method> METHOD = ParamSpec.choice("method", Method.class).defaultValue(Method.RTN)
            .doc("rtn: round to nearest; gptq: compensate rounding with the layer Hessian of calibration samples "
                    + "(--calibration); hqq: zero points fitted without data (asymmetric, 4 bits). Embedding tables "
                    + "are always rounded to nearest.").build();
    static final ParamSpec<Compute> COMPUTE = ParamSpec.choice("compute", Compute.class).defaultValue(Compute.FLOAT)
            .doc("float: the weights dequantized, float32 products; int8: activations rounded to int8 per block "
                    + "at run time and integer products (MatMulNBits accuracy_level 4), faster on CPUs with VNNI, "
                    + "a little less accurate.").build();
    static final ParamSpec<Boolean> SYMMETRIC = ParamSpec.bool("symmetric").defaultValue(false)
            .doc("Zero point fixed at 2^(bits-1) and left out of the model; asymmetric (default) fits each block's "
                    + "range.").build();
    static final ParamSpec<List<String>> OP_TYPES = ParamSpec.list("op-types").defaultValue(List.of("MatMul", "Gemm",
                    "Gather"))
            .validator(ParamValidator.eachMatches("MatMul|Gemm|Gather", "MatMul, Gemm, Gather"))
            .doc("Operator types whose constant float32 weight is quantized (Gather: embedding tables).").build();
    static final ParamSpec<List<String>> EXCLUDE_NODES = ParamSpec.list("exclude-nodes").defaultValue(List.of())
            .doc("Names of nodes left float.").build();
    static final ParamSpec<Double> DAMPING = ParamSpec.decimal("damping").defaultValue(0.01)
            .validator(ParamValidator.between(0, 1))
            .doc("For method=gptq: share of the Hessian's mean diagonal added before inverting it.").build();
    static final ParamSpec<Integer> BATCH_SIZE = ParamSpec.integer("batch-size").defaultValue(8)
            .validator(ParamValidator.between(1, 4096)).doc("Calibration samples per run.").build();
    static final ParamSpec<Integer> MAX_SAMPLES = ParamSpec.integer("max-samples").defaultValue(128)
            .validator(ParamValidator.atLeast(0)).doc("Calibrate on at most this many samples; 0 for all.").build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("quantize-weights")
            .version("1.0.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("4- or 8-bit block-wise weights (MatMulNBits, GatherBlockQuantized), activations float; "
                    + "RTN, HQQ, or GPTQ with --calibration.")
            .param(BITS).param(BLOCK_SIZE).param(METHOD).param(SYMMETRIC).param(COMPUTE).param(OP_TYPES).param(EXCLUDE_NODES)
            .param(DAMPING).param(BATCH_SIZE).param(MAX_SAMPLES)
            .requiresWhen(DataRole.CALIBRATION, METHOD, Method.GPTQ)
            .check(QuantizeWeightsTransform::hqqSettings)
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    private static Optional<String> hqqSettings(Params params) {
        if (params.get(METHOD) != Method.HQQ) {
            return Optional.empty();
        }
        if (params.get(SYMMETRIC)) {
            return Optional.of("method=hqq fits zero points, so it cannot be symmetric=true");
        }
        // MatMulNBits' CPU kernel (ONNX Runtime 1.28) dequantizes float zero points for 2 and 4 bits only
        return params.get(BITS) == 4 ? Optional.empty()
                : Optional.of("method=hqq needs bits=4: ONNX Runtime runs fractional zero points on 4-bit weights only");
    }

    private static ParamValidator<Integer> oneOf(List<Integer> values) {
        String list = values.size() == 2 ? values.get(0) + " or " + values.get(1) : values.toString();
        return new ParamValidator<>() {
            @Override
            public String problem(Integer value) {
                return values.contains(value) ? null : "be " + (values.size() == 2 ? "" : "one of ") + list;
            }

            @Override
            public String describe() {
                return list;
            }
        };
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel original = input.onnxModel();
        OnnxModel model = GraphPreparation.prepare(original).model();
        List<String> opTypes = params.get(OP_TYPES);
        GraphEditor editor = GraphEditor.of(model.graph());
        WeightLayers finder = new WeightLayers(model, new HashSet<>(params.get(EXCLUDE_NODES)), opTypes.contains("Gather"));
        List<WeightLayer> layers = finder.find(editor).stream()
                .filter(l -> opTypes.contains(l.node().getOpType())).toList();
        if (layers.isEmpty()) {
            throw new InvalidInputException("nothing to quantize: no " + String.join(", ", opTypes)
                    + " node with a constant 2-D float32 weight" + (finder.skippedNotes().isEmpty() ? ""
                    : " (" + String.join("; ", finder.skippedNotes()) + ")"));
        }
        Optional<Dataset> calibration = context.calibrationData();
        WeightQuantization.Settings settings = new WeightQuantization.Settings(params.get(BITS), params.get(BLOCK_SIZE),
                params.get(METHOD), params.get(SYMMETRIC), params.get(DAMPING));
        WeightQuantization quantization = new WeightQuantization(settings, context.logger());
        LayerHessians hessians = LayerHessians.none();
        if (calibration.isPresent()) {
            HessianCollector collector = new HessianCollector(context.inference(), calibration.get(),
                    params.get(BATCH_SIZE), params.get(MAX_SAMPLES), context.progress(), context.cancellation());
            hessians = params.get(METHOD) == Method.GPTQ ? LayerHessians.sequential(collector, model)
                    : LayerHessians.oneShot(collector, model, layers);
        }
        NBitsRewriter rewriter = new NBitsRewriter(editor, params.get(COMPUTE) == Compute.INT8 ? 4 : 0);
        WeightQuantization.Report report = quantization.apply(layers, hessians, rewriter, context.cancellation());
        OnnxModel quantized = rewriter.finish(model);
        TransformResult result = TransformResult.of(quantized)
                .withMetric("quantized-nodes", report.products() + report.tables())
                .withMetric("quantized-matmuls", report.products())
                .withMetric("quantized-gathers", report.tables())
                .withMetric("packed-bytes", rewriter.packedBytes())
                .withMetric("float-bytes", report.floatBytes());
        if (report.worstSqnr() != null) {
            result = result.withMetric("layer-sqnr-min-db", report.worstSqnr());
        }
        if (calibration.isPresent()) {
            result = result.withMetric("calibration-samples", report.samples());
        }
        // with calibration data each product's figure is its own output SQNR: reported in the form every
        // quantizing and pruning step uses, so that reports (and auto) read all of them alike
        for (LayerSensitivity.Layer layer : report.outputSqnr()) {
            result = result.withMetric(LayerSensitivity.METRIC_PREFIX + layer.name(), layer.sqnrDb());
        }
        if (!report.outputSqnr().isEmpty()) {
            result = result.withMetric(LayerSensitivity.WORST_METRIC, report.worstSqnr());
        }
        for (String note : report.notes()) {
            result = result.withNote(note);
        }
        for (String note : finder.skippedNotes()) {
            result = result.withNote(note);
        }
        return result;
    }
}
