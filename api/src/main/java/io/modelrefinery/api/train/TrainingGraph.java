package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.InvalidModelException;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An inference model turned into a training graph: the forward pass, the loss and the backward pass as
 * one ONNX model that ONNX Runtime runs as is. Trained initializers become graph inputs (fed every step,
 * since a session's initializers are fixed), targets are inputs, and the loss, the logits and one
 * gradient per parameter are outputs. Immutable.
 */
public final class TrainingGraph {
    /** Graph output holding the scalar loss of the batch. */
    public static final String LOSS = "loss";
    /** Prefix of the graph outputs holding gradients: {@code gradient:NAME}. */
    public static final String GRADIENT_PREFIX = "gradient:";

    /** Running statistics of a BatchNormalization updated from batch statistics after each step. */
    public record RunningStatistics(String mean, String variance, String batchMean, String batchVariance,
                                    float momentum) {
    }

    private final OnnxModel inference;
    private final OnnxModel training;
    private final Map<String, Tensor> parameters;
    private final Map<String, String> gradients;
    private final Map<String, String> inputGradients;
    private final List<RunningStatistics> runningStatistics;
    private final Loss loss;
    private final Head head;
    private final String logits;
    private final String output;
    private final Map<String, long[]> targets;

    private TrainingGraph(Builder b, OnnxModel training) {
        this.inference = b.model;
        this.training = training;
        this.parameters = Collections.unmodifiableMap(b.parameters);
        this.gradients = Collections.unmodifiableMap(b.gradientOutputs);
        this.inputGradients = Collections.unmodifiableMap(b.inputGradientOutputs);
        this.runningStatistics = List.copyOf(b.running);
        this.loss = b.loss;
        this.head = b.head;
        this.logits = b.logits;
        this.output = b.output;
        this.targets = Collections.unmodifiableMap(b.targetShapes);
    }

    /** {@link #build(OnnxModel, Map, Loss, TrainingOptions, GradientRules)} with the standard rules. */
    public static TrainingGraph build(OnnxModel model, Map<String, TensorInfo> valueTypes, Loss loss,
                                      TrainingOptions options) {
        return build(model, valueTypes, loss, options, GradientRules.standard());
    }

    /**
     * Differentiates {@code model}.
     *
     * @param valueTypes every value's type and shape as ONNX Runtime infers them
     *     ({@link io.modelrefinery.api.infer.InferenceService#valueTypes})
     * @throws NoGradientRuleException if a node between the trained weights and the loss has no rule
     * @throws InvalidModelException if the model cannot be trained as asked (opset below 13, no float
     *     weights, a node form a rule refuses); the message names the node
     */
    public static TrainingGraph build(OnnxModel model, Map<String, TensorInfo> valueTypes, Loss loss,
                                      TrainingOptions options, GradientRules rules) {
        return new Builder(model, valueTypes, loss, options, rules).build();
    }

    /** The model this graph trains. */
    public OnnxModel inferenceModel() {
        return inference;
    }

    /** The training graph, to open a session on. */
    public OnnxModel model() {
        return training;
    }

    /** The trained parameters and their initial values, in graph order. */
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    /** The output holding each parameter's gradient. */
    public String gradientOutput(String parameter) {
        return gradients.get(parameter);
    }

    /** The outputs holding the gradients of the graph inputs asked for in {@link TrainingOptions#inputGradients()}. */
    public Map<String, String> inputGradientOutputs() {
        return inputGradients;
    }

    public List<RunningStatistics> runningStatistics() {
        return runningStatistics;
    }

    public Loss loss() {
        return loss;
    }

    public Head head() {
        return head;
    }

    /** The value the classification terms read: logits (an output of the training graph). */
    public String logits() {
        return logits;
    }

    /** The model output trained. */
    public String output() {
        return output;
    }

    /** The target inputs with their shapes (-1 for the batch). */
    public Map<String, long[]> targets() {
        return targets;
    }

    /**
     * The inference model with {@code values} as its initializers (parameters and running statistics), ready
     * to save; every other part of the model is unchanged.
     */
    public OnnxModel inferenceModel(Map<String, float[]> values) {
        GraphEditor editor = GraphEditor.of(inference.graph());
        for (TensorProto init : inference.graph().getInitializerList()) {
            float[] v = values.get(init.getName());
            if (v != null) {
                long[] dims = init.getDimsList().stream().mapToLong(Long::longValue).toArray();
                editor.putInitializer(Tensor.ofFloats(dims, v).toProto(init.getName()));
            }
        }
        return inference.withGraph(editor.build());
    }

    // ---------------------------------------------------------------- building

    /** Builds one training graph; not reusable. */
    static final class Builder {
        private final OnnxModel model;
        private final Map<String, TensorInfo> types;
        private final Loss loss;
        private final TrainingOptions options;
        private final GradientRules rules;
        private final GraphEditor editor;
        private final long opset;
        private final Map<String, Tensor> parameters = new LinkedHashMap<>();
        private final Map<String, String> gradientOutputs = new LinkedHashMap<>();
        private final Map<String, String> inputGradientOutputs = new LinkedHashMap<>();
        private final List<RunningStatistics> running = new ArrayList<>();
        private final Map<String, long[]> targetShapes = new LinkedHashMap<>();
        private final Map<String, List<String>> contributions = new HashMap<>();
        private Head head;
        private String logits;
        private String output;
        private int constants;

        Builder(OnnxModel model, Map<String, TensorInfo> types, Loss loss, TrainingOptions options, GradientRules rules) {
            this.model = model;
            this.types = types;
            this.loss = loss;
            this.options = options;
            this.rules = rules;
            this.editor = GraphEditor.of(model.graph());
            this.opset = model.opsetVersion();
        }

        String constant(Tensor value) {
            String name = editor.freshName("train/const" + constants++);
            editor.putInitializer(value.toProto(name));
            return name;
        }

        void runningStatistics(String mean, String var, String batchMean, String batchVar, float momentum) {
            if (GraphIndex.of(model.graph()).initializer(mean).isEmpty()
                    || GraphIndex.of(model.graph()).initializer(var).isEmpty()) {
                throw new InvalidModelException("cannot train BatchNormalization over '" + mean + "' and '" + var
                        + "': its running statistics are not initializers");
            }
            running.add(new RunningStatistics(mean, var, batchMean, batchVar, momentum));
        }

        TrainingGraph build() {
            if (opset < 13) {
                throw new InvalidModelException("training needs ONNX opset 13 or later, the model has " + opset
                        + "; convert it first with opset(target=17)");
            }
            GraphIndex index = GraphIndex.of(model.graph());
            output = options.output() != null ? options.output()
                    : model.graph().getOutput(0).getName();
            if (!index.isGraphOutput(output)) {
                throw new InvalidModelException("the model has no output '" + output + "'");
            }
            List<NodeProto> order = index.topologicalOrder();
            Set<String> sources = sources(index, order);
            Set<String> dependent = dependentValues(order, sources);
            if (!dependent.contains(output)) {
                throw new InvalidModelException("output '" + output + "' does not depend on any float weight: nothing to train");
            }
            resolveHead(index);
            GradientContext lossContext = context(null);
            addLoss(lossContext);
            backward(order, dependent);
            finish(index, sources);
            return new TrainingGraph(this, model.withGraph(editor.build()));
        }

        /** Float initializers (not frozen) at a differentiable position of some node, plus asked-for inputs. */
        private Set<String> sources(GraphIndex index, List<NodeProto> order) {
            Set<String> sources = new HashSet<>();
            for (NodeProto node : order) {
                Set<Integer> positions = differentiable(node);
                for (int i = 0; i < node.getInputCount(); i++) {
                    String in = node.getInput(i);
                    var init = index.initializer(in);
                    if (positions.contains(i) && init.isPresent() && init.get().getDataType() == DataType.FLOAT.code()
                            && !options.frozen().contains(in)) {
                        sources.add(in);
                    }
                }
            }
            for (String input : options.inputGradients()) {
                if (!index.isGraphInput(input) || index.isInitializer(input)) {
                    throw new InvalidModelException("the model has no graph input '" + input + "'");
                }
                sources.add(input);
            }
            if (sources.isEmpty()) {
                throw new InvalidModelException("the model has no float weights to train");
            }
            return sources;
        }

        private Set<Integer> differentiable(NodeProto node) {
            return rules.rule(node).map(r -> r.differentiableInputs(node)).orElseGet(() -> {
                Set<Integer> all = new HashSet<>();
                for (int i = 0; i < node.getInputCount(); i++) {
                    all.add(i);
                }
                return all;
            });
        }

        private Set<String> dependentValues(List<NodeProto> order, Set<String> sources) {
            Set<String> dependent = new HashSet<>(sources);
            for (NodeProto node : order) {
                Set<Integer> positions = differentiable(node);
                boolean depends = false;
                for (int i = 0; i < node.getInputCount(); i++) {
                    depends |= positions.contains(i) && dependent.contains(node.getInput(i));
                }
                if (depends) {
                    for (String out : node.getOutputList()) {
                        if (!out.isEmpty()) {
                            dependent.add(out);
                        }
                    }
                }
            }
            return dependent;
        }

        private void resolveHead(GraphIndex index) {
            NodeProto producer = index.producer(output).orElse(null);
            String op = producer == null ? "" : producer.getOpType();
            long[] outShape = types.containsKey(output) ? types.get(output).shape() : new long[0];
            switch (op) {
                case "Sigmoid" -> {
                    head = Head.BINARY;
                    logits = producer.getInput(0);
                }
                case "Softmax", "LogSoftmax" -> {
                    head = Head.MULTICLASS;
                    logits = producer.getInput(0);
                    long axis = OnnxHelper.getInt(producer, "axis", opset >= 13 ? -1 : 1);
                    if (axis != -1 && axis != outShape.length - 1 && loss.classifies()) {
                        throw new InvalidModelException("output '" + output + "' is a " + op + " over axis " + axis
                                + "; training needs the classes on the last axis");
                    }
                }
                default -> {
                    logits = output;
                    head = outShape.length <= 1 || outShape[outShape.length - 1] == 1 ? Head.BINARY : Head.MULTICLASS;
                }
            }
        }

        private GradientContext context(NodeProto node) {
            NodeProto shown = node != null ? node : OnnxHelper.node("Loss", List.of(), List.of(LOSS));
            return new GradientContext(this, editor, types, opset, options, shown, List.of(), Set.of());
        }

        /** Emits the loss and seeds the gradients of the logits and/or the output. */
        private void addLoss(GradientContext c) {
            List<String> terms = new ArrayList<>();
            for (Loss.Term term : loss.terms()) {
                if (term.weight() == 0) {
                    continue;
                }
                boolean onOutput = term.kind() == Loss.Kind.MEAN_SQUARED_ERROR;
                String value = onOutput ? output : logits;
                long[] shape = types.containsKey(value) ? types.get(value).shape() : null;
                if (shape == null || shape.length == 0) {
                    throw new InvalidModelException("cannot train on '" + value + "': its shape is unknown");
                }
                String target = term.target();
                if (!targetShapes.containsKey(target)) {
                    long[] targetShape = shape.clone();
                    targetShape[0] = -1;
                    targetShapes.put(target, targetShape);
                    editor.graph().addInput(OnnxHelper.valueInfo(target, DataType.FLOAT, targetShape));
                }
                String[] lossAndGrad = switch (term.kind()) {
                    case MEAN_SQUARED_ERROR -> LossGraphs.meanSquaredError(c, value, target);
                    case BINARY_CROSS_ENTROPY -> LossGraphs.binaryCrossEntropy(c, value, target);
                    case CROSS_ENTROPY -> head == Head.BINARY ? LossGraphs.binaryCrossEntropy(c, value, target)
                            : LossGraphs.crossEntropy(c, value, target, shape[shape.length - 1]);
                    case KL_DIVERGENCE -> LossGraphs.klDivergence(c, value, target, term.temperature(), head,
                            shape[shape.length - 1]);
                };
                float w = (float) term.weight();
                terms.add(w == 1f ? lossAndGrad[0] : c.mul(lossAndGrad[0], c.scalar(w)));
                contribute(value, w == 1f ? lossAndGrad[1] : c.mul(lossAndGrad[1], c.scalar(w)));
            }
            if (terms.isEmpty()) {
                throw new InvalidModelException("the loss has no term with a weight above 0");
            }
            String total = terms.size() == 1 ? terms.get(0) : c.emit("Sum", terms);
            editor.addNode(OnnxHelper.node("Identity", List.of(total), List.of(LOSS)));
            editor.addOutput(LOSS);
            editor.addOutput(logits);
        }

        private void contribute(String value, String gradient) {
            contributions.computeIfAbsent(value, k -> new ArrayList<>()).add(gradient);
        }

        /** The summed gradient of {@code value}, or null if nothing reached it. */
        private String gradient(String value) {
            List<String> parts = contributions.get(value);
            if (parts == null || parts.isEmpty()) {
                return null;
            }
            if (parts.size() > 1) {
                String name = editor.freshName("grad/" + value + "/sum");
                editor.addNode(OnnxHelper.node("Sum", parts, List.of(name)));
                parts.clear();
                parts.add(name);
            }
            return parts.get(0);
        }

        private void backward(List<NodeProto> order, Set<String> dependent) {
            for (int n = order.size() - 1; n >= 0; n--) {
                NodeProto node = order.get(n);
                List<String> outGrads = new ArrayList<>();
                boolean any = false;
                for (String out : node.getOutputList()) {
                    String g = out.isEmpty() ? null : gradient(out);
                    outGrads.add(g);
                    any |= g != null;
                }
                Set<Integer> positions = differentiable(node);
                Set<String> needed = new HashSet<>();
                for (int i = 0; i < node.getInputCount(); i++) {
                    if (positions.contains(i) && dependent.contains(node.getInput(i))) {
                        needed.add(node.getInput(i));
                    }
                }
                if (!any || needed.isEmpty()) {
                    continue;
                }
                GradientRule rule = rules.rule(node).orElseThrow(() -> new NoGradientRuleException(node.getOpType(),
                        "no gradient rule for operator " + (node.getDomain().isEmpty() ? "" : node.getDomain() + ".")
                                + node.getOpType() + " (" + GraphIndex.describe(node) + ") between the trained weights and the loss;"
                                + " differentiable operators: " + String.join(", ", rules.opTypes())));
                GradientContext c = new GradientContext(this, editor, types, opset, options, node, outGrads, needed);
                rule.backward(c);
                String[] inGrads = c.inputGradients();
                for (int i = 0; i < inGrads.length; i++) {
                    if (inGrads[i] != null) {
                        contribute(node.getInput(i), inGrads[i]);
                    }
                }
            }
        }

        /** Parameters become inputs, gradients become named outputs. */
        private void finish(GraphIndex index, Set<String> sources) {
            for (TensorProto init : model.graph().getInitializerList()) {
                String name = init.getName();
                if (!sources.contains(name)) {
                    continue;
                }
                String g = gradient(name);
                if (g == null) {
                    continue; // does not reach the loss: stays a constant
                }
                parameters.put(name, model.tensor(init));
                long[] dims = init.getDimsList().stream().mapToLong(Long::longValue).toArray();
                editor.removeInitializer(name);
                ValueInfoProto input = OnnxHelper.valueInfo(name, DataType.FLOAT, dims);
                editor.graph().addInput(input);
                String out = GRADIENT_PREFIX + name;
                editor.addNode(OnnxHelper.node("Identity", List.of(g), List.of(out)));
                editor.addOutput(out);
                gradientOutputs.put(name, out);
            }
            for (String input : options.inputGradients()) {
                String g = gradient(input);
                if (g == null) {
                    throw new InvalidModelException("the loss does not depend on graph input '" + input + "'");
                }
                String out = GRADIENT_PREFIX + input;
                editor.addNode(OnnxHelper.node("Identity", List.of(g), List.of(out)));
                editor.addOutput(out);
                inputGradientOutputs.put(input, out);
            }
            if (parameters.isEmpty() && inputGradientOutputs.isEmpty()) {
                throw new InvalidModelException("no float weight of the model reaches output '" + output + "'");
            }
        }
    }
}
