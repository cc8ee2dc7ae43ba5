package io.modelrefinery.plugin.distill;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
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
import io.modelrefinery.api.train.Loss;
import io.modelrefinery.api.train.Optimizer;
import io.modelrefinery.api.train.SoftTargets;
import io.modelrefinery.api.train.Trainer;
import io.modelrefinery.api.train.TrainingGraph;
import io.modelrefinery.api.train.TrainingMetrics;
import io.modelrefinery.api.train.TrainingOptions;
import org.osgi.service.component.annotations.Component;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * {@code distill}: knowledge distillation (Hinton et al.). The student is the teacher with its
 * convolutions and hidden dense layers narrowed to {@code student-width} of their channels, freshly
 * initialised from {@code seed}; it trains on the training data ({@code --train}, the event's
 * {@code trainUri}) against {@code alpha} times the teacher's outputs softened at {@code temperature}
 * (KL divergence, scaled by T squared) plus {@code 1 - alpha} times the labels (cross-entropy). The
 * student replaces the model; per-epoch loss, accuracy and speed go to the progress line and the step's
 * metrics, and with evaluation data the teacher's and student's accuracy too.
 */
@Component(service = ModelTransform.class)
public final class DistillTransform implements ModelTransform {
    /** Optimizers, as written in pipelines. */
    public enum OptimizerType { ADAM, SGD }

    static final ParamSpec<Double> STUDENT_WIDTH = ParamSpec.decimal("student-width").defaultValue(0.5)
            .validator(ParamValidator.between(0.01, 1))
            .doc("Share of the teacher's channels each narrowed layer keeps (1 trains a same-size student).").build();
    static final ParamSpec<Double> TEMPERATURE = ParamSpec.decimal("temperature").defaultValue(4.0)
            .validator(ParamValidator.between(0.1, 100)).doc("Softening of teacher and student logits.").build();
    static final ParamSpec<Double> ALPHA = ParamSpec.decimal("alpha").defaultValue(0.7)
            .validator(ParamValidator.between(0, 1)).doc("Weight of the teacher's soft targets; the labels get 1 - alpha.")
            .build();
    static final ParamSpec<Integer> EPOCHS = ParamSpec.integer("epochs").defaultValue(3)
            .validator(ParamValidator.between(1, 1000)).doc("Passes over the training data.").build();
    static final ParamSpec<Double> LEARNING_RATE = ParamSpec.decimal("learning-rate").defaultValue(0.003)
            .validator(ParamValidator.between(1e-7, 10)).doc("Step size of the optimizer.").build();
    static final ParamSpec<OptimizerType> OPTIMIZER = ParamSpec.choice("optimizer", OptimizerType.class)
            .defaultValue(OptimizerType.ADAM).doc("adam, or sgd with momentum 0.9.").build();
    static final ParamSpec<Integer> BATCH_SIZE = CommonParams.batchSize(32).doc("Samples per optimizer step.").build();
    static final ParamSpec<Integer> SEED = CommonParams.seed()
            .doc("Seed of the student's initial weights and of the shuffling: same seed, same student.").build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("distill")
            .version("1.1.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Knowledge distillation into a narrower student trained on --train data (teacher soft targets + labels).")
            .param(STUDENT_WIDTH).param(TEMPERATURE).param(ALPHA).param(EPOCHS).param(LEARNING_RATE).param(OPTIMIZER)
            .param(BATCH_SIZE).param(SEED)
            .requires(DataRole.TRAINING)
            // the gradients of MaxPool and of some other operators need ScatterElements with a reduction (16)
            .minimumOpset(16)
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel teacher = input.onnxModel();
        Dataset data = context.requireData(DataRole.TRAINING);
        InferenceService inference = context.inference();
        Map<String, TensorInfo> teacherTypes = inference.valueTypes(teacher);
        OnnxModel student = Students.narrowed(teacher, teacherTypes, params.get(STUDENT_WIDTH), params.get(SEED));
        double temperature = params.get(TEMPERATURE);
        Loss loss = Loss.distillation(Loss.crossEntropy(), temperature, params.get(ALPHA));
        TrainingGraph graph = TrainingGraph.build(student, inference.valueTypes(student), loss, TrainingOptions.defaults());
        List<TensorInfo> inputs = modelInputs(inference, teacher);
        Datasets.requireFits(data, inputs);
        if (data.labels().isEmpty() && params.get(ALPHA) < 1) {
            throw new InvalidDataException("training data " + data.source()
                    + " has no 'labels' array; give labels or set alpha=1 (teacher only)");
        }

        double rate = params.get(LEARNING_RATE);
        Optimizer optimizer = params.get(OPTIMIZER) == OptimizerType.ADAM ? Optimizer.adam(rate)
                : Optimizer.sgd(rate, 0.9, 0);
        int epochs = params.get(EPOCHS);
        // the teacher's batch when it fixes one (most exports fix 1), else batch-size
        int batchSize = Datasets.batchSize(inputs, params.get(BATCH_SIZE));
        long stepsPerEpoch = (data.size() + batchSize - 1) / batchSize;
        OnnxModel teacherWithLogits = teacher.withGraph(GraphEditor.of(teacher.graph()).addOutput(graph.logits()).build());
        Trainer.Result result;
        try (InferenceSession teacherSession = inference.open(teacherWithLogits)) {
            Trainer.TargetProvider hard = Trainer.labelTargets(graph);
            Trainer.TargetProvider targets = batch -> {
                Map<String, Tensor> out = new LinkedHashMap<>();
                if (graph.targets().containsKey(Loss.SOFT_TARGET)) {
                    Tensor logits = teacherSession.run(batch.inputs(), List.of(graph.logits())).get(graph.logits());
                    out.put(Loss.SOFT_TARGET, SoftTargets.fromLogits(logits, temperature, graph.head()));
                }
                out.putAll(hard.targets(batch));
                return out;
            };
            Trainer trainer = Trainer.builder(graph, inference)
                    .optimizer(optimizer).epochs(epochs).batchSize(batchSize).seed(params.get(SEED))
                    .targets(targets).cancellation(context.cancellation())
                    .listener(TrainingMetrics.progress(context.progress(), epochs, stepsPerEpoch))
                    .listener(new Trainer.Listener() {
                        @Override
                        public void afterEpoch(Trainer.EpochStats stats) {
                            context.logger().info("distill {}", stats);
                        }
                    })
                    .build();
            result = trainer.fit(data);
        }

        TransformResult out = TrainingMetrics.addTo(TransformResult.of(result.model()), result)
                .withMetric("teacher-params", teacher.parameterCount())
                .withMetric("student-params", result.model().parameterCount());
        Optional<Dataset> eval = context.evaluationData();
        if (eval.isPresent() && eval.get().labels().isPresent()) {
            out = out.withMetric("teacher-accuracy", accuracy(inference, teacherWithLogits, graph, eval.get(), inputs))
                    .withMetric("student-accuracy", accuracy(inference, result.model().withGraph(GraphEditor
                            .of(result.model().graph()).addOutput(graph.logits()).build()), graph, eval.get(), inputs));
        }
        return out.withNote(String.format(Locale.ROOT, "student: %d of the teacher's %d parameters, trained %d epochs "
                        + "on %d samples with %s", result.model().parameterCount(), teacher.parameterCount(), epochs,
                data.size(), loss));
    }

    private static List<TensorInfo> modelInputs(InferenceService inference, OnnxModel model) {
        try (InferenceSession session = inference.open(model)) {
            return session.inputs();
        }
    }

    /** Share of labelled samples the model classifies right, from its logits. */
    private static double accuracy(InferenceService inference, OnnxModel model, TrainingGraph graph, Dataset data,
                                   List<TensorInfo> inputs) {
        int batch = Datasets.batchSize(inputs, 256);
        boolean fixed = Datasets.batchSize(inputs, 0) > 0;
        long correct = 0;
        long total = 0;
        try (InferenceSession session = inference.open(model); DatasetReader reader = data.open()) {
            for (Optional<Batch> b = reader.next(batch); b.isPresent(); b = reader.next(batch)) {
                if (fixed && b.get().size() != batch) {
                    break; // a last partial batch the model's fixed batch dimension does not take
                }
                Tensor logits = session.run(b.get().inputs(), List.of(graph.logits())).get(graph.logits());
                correct += Trainer.correct(logits, b.get().labels().orElseThrow(), graph.head());
                total += b.get().size();
            }
        }
        return total == 0 ? Double.NaN : (double) correct / total;
    }
}
