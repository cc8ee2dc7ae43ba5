package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.Weight;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Keras's built-in activation functions, by the names its configurations use. A custom function is a
 * dictionary in the configuration and is refused: it is Python code.
 */
final class Activations {
    private final ChannelsLastGraph graph;
    private final int kerasMajor;

    Activations(ChannelsLastGraph graph, int kerasMajor) {
        this.graph = graph;
        this.kerasMajor = kerasMajor;
    }

    /** The activation's name; refuses a custom function. */
    static String name(Object activation) {
        if (activation == null) {
            return "linear";
        }
        if (!(activation instanceof String)) {
            throw new InvalidInputException("custom activation " + Json.describe(activation)
                    + " is refused: it is Python code");
        }
        return (String) activation;
    }

    /**
     * hard_sigmoid is {@code clip(0.2 x + 0.5, 0, 1)} up to Keras 2 and {@code relu6(x + 3) / 6} from
     * Keras 3 on: the same name, another slope.
     */
    float hardSigmoidSlope() {
        return kerasMajor >= 3 ? 1f / 6 : 0.2f;
    }

    Value apply(Value x, Object activation, String layerName) {
        String name = name(activation);
        String hint = layerName + "_" + name;
        return switch (name) {
            case "linear" -> x;
            case "relu" -> graph.unary("Relu", x, hint);
            case "relu6" -> graph.clip(x, 0f, 6f, hint);
            case "sigmoid" -> graph.unary("Sigmoid", x, hint);
            case "hard_sigmoid" -> graph.unary("HardSigmoid", x, hint, attr("alpha", hardSigmoidSlope()),
                    attr("beta", 0.5f));
            case "tanh" -> graph.unary("Tanh", x, hint);
            case "softmax" -> graph.softmax(x, -1, hint);
            case "log_softmax" -> graph.operator("LogSoftmax", java.util.List.of(graph.frameworkData(x)), x.type(),
                    java.util.List.of(x.shape()), hint, attr("axis", -1L)).get(0);
            case "swish", "silu" -> graph.swish(x, hint);
            case "hard_silu", "hard_swish" -> graph.unary("HardSwish", x, hint);
            case "elu" -> graph.unary("Elu", x, hint);
            case "selu" -> graph.unary("Selu", x, hint, attr("alpha", 1.67326324f), attr("gamma", 1.05070098f));
            case "softplus" -> graph.unary("Softplus", x, hint);
            case "softsign" -> graph.unary("Softsign", x, hint);
            case "exponential" -> graph.unary("Exp", x, hint);
            case "leaky_relu" -> graph.unary("LeakyRelu", x, hint, attr("alpha", 0.2f));
            case "gelu" -> gelu(x, hint);
            case "mish" -> graph.binary("Mul", x, graph.unary("Tanh", graph.unary("Softplus", x, hint + "_softplus"),
                    hint + "_tanh"), hint);
            default -> throw new InvalidInputException("unsupported activation '" + name + "'");
        };
    }

    /** Keras's gelu without approximation: {@code x * (1 + erf(x / sqrt 2)) / 2}. */
    private Value gelu(Value x, String hint) {
        Value scaled = graph.binary("Mul", x, Weight.of(Tensor.scalar((float) (1 / Math.sqrt(2)))), false,
                hint + "_scaled");
        Value erf = graph.unary("Erf", scaled, hint + "_erf");
        Value plusOne = graph.binary("Add", erf, Weight.of(Tensor.scalar(1f)), false, hint + "_plus_one");
        Value product = graph.binary("Mul", x, plusOne, hint + "_product");
        return graph.binary("Mul", product, Weight.of(Tensor.scalar(0.5f)), false, hint);
    }

    /** An activation as ONNX's recurrent operators name it, with its alpha and beta (NaN when unused). */
    record Recurrent(String onnxName, float alpha, float beta) {
    }

    Recurrent recurrent(Object activation) {
        String name = name(activation);
        return switch (name) {
            case "tanh" -> new Recurrent("Tanh", Float.NaN, Float.NaN);
            case "sigmoid" -> new Recurrent("Sigmoid", Float.NaN, Float.NaN);
            case "relu" -> new Recurrent("Relu", Float.NaN, Float.NaN);
            case "hard_sigmoid" -> new Recurrent("HardSigmoid", hardSigmoidSlope(), 0.5f);
            case "linear" -> new Recurrent("Affine", 1f, 0f);
            case "softsign" -> new Recurrent("Softsign", Float.NaN, Float.NaN);
            case "softplus" -> new Recurrent("Softplus", Float.NaN, Float.NaN);
            case "elu" -> new Recurrent("Elu", 1f, Float.NaN);
            default -> throw new InvalidInputException("activation '" + name + "' is not supported in a recurrent layer");
        };
    }
}
