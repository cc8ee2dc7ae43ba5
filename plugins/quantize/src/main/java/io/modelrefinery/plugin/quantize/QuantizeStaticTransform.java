package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.CommonParams;
import io.modelrefinery.api.plugin.DataRole;
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
import java.util.Map;
import java.util.Set;

/**
 * {@code quantize-static}: QDQ quantization calibrated on samples. Weights int8 (per channel by default),
 * activations uint8 or int8 with ranges from MinMax, Percentile or Entropy calibration. ONNX Runtime runs
 * the result with integer kernels (QLinearConv, QGemm): the recipe for convolution networks.
 */
@Component(service = ModelTransform.class)
public final class QuantizeStaticTransform implements ModelTransform {
    /** Activation types, as written in pipelines. */
    public enum ActivationType { UINT8, INT8 }

    static final ParamSpec<CalibrationMethod> METHOD = ParamSpec.choice("method", CalibrationMethod.class)
            .defaultValue(CalibrationMethod.MIN_MAX)
            .doc("min-max: full observed range; percentile: clip the rarest values; entropy: least KL divergence.")
            .build();
    static final ParamSpec<Double> PERCENTILE = ParamSpec.decimal("percentile").defaultValue(99.999)
            .validator(ParamValidator.aboveAndAtMost(50, 100)).doc("Share of absolute values kept, in percent, for method=percentile.")
            .build();
    static final ParamSpec<ActivationType> ACTIVATION_TYPE = ParamSpec.choice("activation-type", ActivationType.class)
            .defaultValue(ActivationType.UINT8).doc("Type of quantized activations.").build();
    static final ParamSpec<Boolean> SYMMETRIC_ACTIVATIONS = ParamSpec.bool("symmetric-activations").defaultValue(false)
            .doc("Activation ranges centred on zero (keeps ReLU nodes).").build();
    static final ParamSpec<Boolean> PER_CHANNEL = ParamSpec.bool("per-channel").defaultValue(true)
            .doc("One weight scale per output channel.").build();
    static final ParamSpec<Boolean> REDUCE_RANGE = ParamSpec.bool("reduce-range").defaultValue(false)
            .doc("7-bit weights, for CPUs without VNNI whose 8-bit products can saturate.").build();
    static final ParamSpec<List<String>> OP_TYPES = CommonParams.opTypes(QuantOps.STATIC)
            .validator(ParamValidator.eachMatches(String.join("|", QuantOps.STATIC), "supported operator types"))
            .doc("Operator types to quantize.").build();
    static final ParamSpec<List<String>> EXCLUDE_OP_TYPES = CommonParams.excludeOpTypes()
            .doc("Operator types left float.").build();
    static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes()
            .doc("Names of nodes left float.").build();
    static final ParamSpec<Integer> BATCH_SIZE = CommonParams.batchSize(32)
            .validator(ParamValidator.between(1, 4096)).doc("Calibration samples per run (fewer when activations are large).")
            .build();
    static final ParamSpec<Integer> MAX_SAMPLES = CommonParams.maxSamples().doc("Calibrate on at most this many samples; 0 for all.").build();
    static final ParamSpec<Integer> BINS = ParamSpec.integer("bins").defaultValue(2048)
            .validator(ParamValidator.between(128, 1 << 16)).doc("Histogram bins, for percentile and entropy.").build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("quantize-static")
            .version("2.5.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Int8 QDQ quantization calibrated on samples (--calibration); integer kernels for conv nets.")
            .param(METHOD).param(PERCENTILE).param(ACTIVATION_TYPE).param(SYMMETRIC_ACTIVATIONS).param(PER_CHANNEL)
            .param(REDUCE_RANGE).param(OP_TYPES).param(EXCLUDE_OP_TYPES).param(EXCLUDE_NODES).param(BATCH_SIZE)
            .param(MAX_SAMPLES).param(BINS)
            .requires(DataRole.CALIBRATION)
            // per-channel weights need DequantizeLinear's axis (opset 13): older models are upgraded first
            .minimumOpset(13)
            // what auto tries with this transform, and retries with sensitive layers left float when a gate fails
            .recipe("quantize-static(method=min-max)").recipe("quantize-static(method=entropy)")
            .recipe("quantize-static(method=percentile)")
            .layerFallback()
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        Dataset data = context.requireData(DataRole.CALIBRATION);
        boolean perChannel = params.get(PER_CHANNEL);
        if (perChannel && model.opsetVersion() < 13) {
            throw new InvalidInputException("per-channel quantization needs opset 13 or later, the model has "
                    + model.opsetVersion() + ": convert it with the opset transform first, or set per-channel=false");
        }
        Set<String> include = new HashSet<>(params.get(OP_TYPES));
        include.removeAll(params.get(EXCLUDE_OP_TYPES));
        GraphPreparation.Result prepared = GraphPreparation.prepare(model);
        boolean symmetric = params.get(SYMMETRIC_ACTIVATIONS);
        Set<String> excluded = new HashSet<>(params.get(EXCLUDE_NODES));
        // a symmetric range keeps the Clip of a decomposed HardSwish float: then the whole operator is cheaper
        Decompositions.Result decomposed = Decompositions.apply(prepared.model(), node -> !symmetric
                && include.contains(node.getOpType()) && !excluded.contains(node.getName()));
        OnnxModel floatModel = decomposed.model();
        Map<String, TensorInfo> types = context.inference().valueTypes(floatModel);
        QdqQuantizer quantizer = new QdqQuantizer(floatModel, types, new QdqQuantizer.Settings(
                params.get(ACTIVATION_TYPE) == ActivationType.INT8 ? QuantType.INT8 : QuantType.UINT8,
                symmetric, perChannel, params.get(REDUCE_RANGE), include, decomposed.nodes(), excluded));
        QdqQuantizer.Plan plan = quantizer.plan();
        if (plan.isEmpty()) {
            return TransformResult.of(model).withMetric("quantized-nodes", 0)
                    .withNote("nothing to quantize: no node of the types " + include + " with float data");
        }
        Calibrator.Settings calibration = new Calibrator.Settings(params.get(METHOD), params.get(PERCENTILE),
                params.get(BINS), params.get(BATCH_SIZE), params.get(MAX_SAMPLES));
        Calibrator calibrator = new Calibrator(context.inference(), data, calibration, context.progress(),
                context.cancellation());
        // the host keeps the ranges, so that auto's other candidates and fallbacks on this model calibrate once
        CachedCalibration cached = new CachedCalibration(context.statistics(), calibration);
        long start = System.nanoTime();
        // the ranges of the decomposition's parts and of HardSwish's and SiLU's outputs follow from their inputs':
        // the model as it came is calibrated, without them
        DerivedRanges derived = new DerivedRanges(decomposed.derived())
                .with(DerivedRanges.gatedActivations(prepared.model()));
        Map<String, TensorRange> ranges = derived.ranges(plan.calibrate,
                cached.ranges(prepared.model(), derived.sources(plan.calibrate), types, calibrator));
        long calibrationMs = (System.nanoTime() - start) / 1_000_000;
        OnnxModel quantized = quantizer.apply(plan, ranges);
        context.logger().info("{} {} tensors in {} ms; quantized {} nodes", cached.reused() ? "reused the ranges of"
                : "calibrated", ranges.size(), calibrationMs, plan.quantized.size());
        TransformResult result = TransformResult.of(quantized)
                .withMetric("quantized-nodes", plan.quantized.size())
                .withMetric("folded-activations", plan.removedActivations.size())
                .withMetric("folded-batch-norms", prepared.foldedBatchNorms())
                .withMetric("decomposed-activations", decomposed.count())
                .withMetric("calibrated-tensors", ranges.size())
                .withMetric("calibration-samples", cached.samples())
                .withMetric("calibration-ms", calibrationMs)
                .withMetric("calibration-reused", cached.reused() ? 1 : 0);
        if (!plan.floatNeighbours.isEmpty()) {
            StringBuilder note = new StringBuilder("left float between quantized tensors (no integer kernel in "
                    + "ONNX Runtime, or not among op-types): ");
            plan.floatNeighbours.forEach((op, n) -> note.append(op).append(" x").append(n).append(", "));
            result = result.withNote(note.substring(0, note.length() - 2));
        }
        // each layer's own error on the calibration samples: what auto's per-layer fallback ranks layers by
        return QuantizedLayerSensitivity.report(context, result, floatModel, quantized, plan.quantized, data,
                "calibration", params.get(BATCH_SIZE), params.get(MAX_SAMPLES));
    }
}
