package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.CommonParams;
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

/**
 * {@code quantize-dynamic}: 8-bit weights, activations quantized at run time. No calibration data.
 * Best for MatMul-heavy models (transformers, MLPs); for convolution networks {@code quantize-static}
 * gives integer convolutions.
 */
@Component(service = ModelTransform.class)
public final class QuantizeDynamicTransform implements ModelTransform {
    /** Weight types, as written in pipelines. */
    public enum WeightType { INT8, UINT8 }

    static final ParamSpec<Boolean> PER_CHANNEL = ParamSpec.bool("per-channel").defaultValue(false)
            .doc("One weight scale per output column or channel instead of one per tensor.").build();
    static final ParamSpec<Boolean> REDUCE_RANGE = ParamSpec.bool("reduce-range").defaultValue(false)
            .doc("7-bit weights, for CPUs without VNNI whose 8-bit products can saturate.").build();
    static final ParamSpec<WeightType> WEIGHT_TYPE = ParamSpec.choice("weight-type", WeightType.class)
            .defaultValue(WeightType.INT8).doc("int8 (symmetric) or uint8 (asymmetric) weights.").build();
    static final ParamSpec<DynamicQuantizer.ConvMode> CONV = ParamSpec.choice("conv", DynamicQuantizer.ConvMode.class)
            .defaultValue(DynamicQuantizer.ConvMode.WEIGHT_ONLY)
            .doc("weight-only (default): 8-bit weights behind a DequantizeLinear, float compute: a quarter of the "
                    + "size, but on large convolution networks slower than float in ONNX Runtime (quantize-static "
                    + "makes them integer and faster); skip: convolutions stay float; integer: ConvInteger as ONNX "
                    + "Runtime's tool emits (slowest on CPU).").build();
    static final ParamSpec<List<String>> OP_TYPES = CommonParams.opTypes(QuantOps.DYNAMIC)
            .validator(ParamValidator.eachMatches(String.join("|", QuantOps.DYNAMIC), String.join(", ", QuantOps.DYNAMIC)))
            .doc("Operator types to quantize: MatMul and Gemm with constant weights, LSTM, Gather from constant "
                    + "tables (embeddings), Conv (see conv); GRU and RNN have no integer kernel and are reported.")
            .build();
    static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes()
            .doc("Names of nodes left float.").build();

    /** Samples the per-layer sensitivity is measured on: the transform needs none, so the pass stays short. */
    static final int SENSITIVITY_SAMPLES = 256;
    private static final int SENSITIVITY_BATCH = 32;

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("quantize-dynamic")
            .version("2.1.1")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Int8 weights with activations quantized at run time; needs no calibration data.")
            .param(PER_CHANNEL).param(REDUCE_RANGE).param(WEIGHT_TYPE).param(CONV).param(OP_TYPES).param(EXCLUDE_NODES)
            .recipe("quantize-dynamic") // what auto tries with this transform
            // DynamicQuantizeLinear is opset 11, per-channel scales need DequantizeLinear's axis (13)
            .minimumOpset(13)
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel original = input.onnxModel();
        GraphPreparation.Result prepared = GraphPreparation.prepare(original);
        OnnxModel model = prepared.model();
        Map<String, TensorInfo> types = context.inference().valueTypes(model);
        context.cancellation().throwIfCancelled();
        DynamicQuantizer quantizer = new DynamicQuantizer(model, types, new DynamicQuantizer.Settings(
                params.get(WEIGHT_TYPE) == WeightType.INT8 ? QuantType.INT8 : QuantType.UINT8,
                params.get(PER_CHANNEL), params.get(REDUCE_RANGE), params.get(CONV),
                new HashSet<>(params.get(OP_TYPES)), new HashSet<>(params.get(EXCLUDE_NODES))));
        OnnxModel quantized = quantizer.apply();
        if (quantizer.quantizedNodes().isEmpty()) {
            TransformResult unchanged = TransformResult.of(original).withMetric("quantized-nodes", 0)
                    .withNote("nothing to quantize: no node of the types " + params.get(OP_TYPES)
                            + " with a constant float weight");
            for (String note : quantizer.skippedNotes()) {
                unchanged = unchanged.withNote(note);
            }
            return unchanged;
        }
        TransformResult result = TransformResult.of(quantized).withMetric("quantized-nodes", quantizer.quantizedNodes().size());
        for (String note : quantizer.skippedNotes()) {
            result = result.withNote(note);
        }
        context.logger().info("quantized {} nodes dynamically", quantizer.quantizedNodes().size());
        return withSensitivity(context, result, model, quantized, quantizer.quantizedLayers());
    }

    /**
     * {@code result} with each quantized layer's own output SQNR on the first {@value #SENSITIVITY_SAMPLES}
     * evaluation samples, else calibration ones; as it is when the job has neither.
     */
    private static TransformResult withSensitivity(TransformContext context, TransformResult result, OnnxModel model,
                                                   OnnxModel quantized, List<NodeProto> layers) {
        String kind = "evaluation";
        Dataset data = context.evaluationData().orElse(null);
        if (data == null) {
            kind = "calibration";
            data = context.calibrationData().orElse(null);
        }
        if (data == null) {
            return result;
        }
        return QuantizedLayerSensitivity.report(context, result, model, quantized, layers, data, kind,
                SENSITIVITY_BATCH, SENSITIVITY_SAMPLES);
    }
}
