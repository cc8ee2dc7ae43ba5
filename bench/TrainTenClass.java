import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorShapeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.train.Loss;
import io.modelrefinery.api.train.Optimizer;
import io.modelrefinery.api.train.Trainer;
import io.modelrefinery.api.train.TrainingGraph;
import io.modelrefinery.api.train.TrainingOptions;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;

/**
 * Writes samples/seed_cnn_ten.onnx: the sample model's architecture (Conv 12@3x3, ReLU, MaxPool 2, Conv
 * 24@3x3, ReLU, MaxPool 2, Flatten, Dense) with a 10-unit dense layer and a Softmax instead of the sigmoid,
 * every weight freshly drawn (He normal, seeded; biases zero), then trained by the project's own training
 * engine (api.train's Trainer: Adam, cross-entropy on the labels) on all 60,000 Fashion-MNIST training
 * images. Prints the dense accuracy on the 10,000 test images.
 *
 * Run: bench/train-ten-class.sh [epochs]
 */
public class TrainTenClass {
    public static void main(String[] args) throws Exception {
        int epochs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path out = TestModels.root().resolve("samples/seed_cnn_ten.onnx");
        Path work = Files.createTempDirectory("refinery-ten-class-");
        try {
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            FashionMnist.Samples train = FashionMnist.tenClass(FashionMnist.Split.TRAIN, Integer.MAX_VALUE);
            FashionMnist.Samples test = FashionMnist.tenClass(FashionMnist.Split.TEST, Integer.MAX_VALUE);
            Dataset data = Datasets.open(train.writeNpz(work.resolve("train.npz")), "input");
            OnnxModel model = fresh(TestModels.sampleCnn(), 10, 7);
            TrainingGraph graph = TrainingGraph.build(model, inference.valueTypes(model), Loss.crossEntropy(),
                    TrainingOptions.defaults());
            long start = System.nanoTime();
            Trainer.Result result = Trainer.builder(graph, inference)
                    .optimizer(Optimizer.adam(0.002)).epochs(epochs).batchSize(64).seed(7)
                    .listener(new Trainer.Listener() {
                        @Override
                        public void afterEpoch(Trainer.EpochStats stats) {
                            System.out.println("  " + stats);
                        }
                    })
                    .build().fit(data);
            double seconds = (System.nanoTime() - start) / 1e9;
            OnnxModel trained = result.model();
            trained.save(out, SaveOptions.inline());
            System.out.printf(Locale.ROOT, "trained %d epochs on %d images in %.0f s: test accuracy %.2f%% on %d images;"
                            + " wrote %s (%d bytes)%n", epochs, train.size(), seconds,
                    test.percentCorrect(inference, trained), test.size(), out, Files.size(out));
        } finally {
            try (var walk = Files.walk(work)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** The sample model with a {@code classes}-unit dense layer, Softmax output and seeded fresh weights. */
    static OnnxModel fresh(OnnxModel sample, int classes, long seed) {
        Random random = new Random(seed);
        GraphEditor editor = GraphEditor.of(sample.graph());
        for (TensorProto init : sample.graph().getInitializerList()) {
            long[] shape = init.getDimsList().stream().mapToLong(Long::longValue).toArray();
            if (init.getName().startsWith("fc.")) {
                shape[0] = classes;
            }
            int size = 1;
            for (long d : shape) {
                size *= (int) d;
            }
            float[] values = new float[size];
            if (shape.length > 1) {
                int fanIn = size / (int) shape[0];
                double std = Math.sqrt(2.0 / fanIn);
                for (int i = 0; i < size; i++) {
                    values[i] = (float) (random.nextGaussian() * std);
                }
            }
            editor.putInitializer(Tensor.ofFloats(shape, values).toProto(init.getName()));
        }
        for (NodeProto node : editor.nodes()) {
            if (node.getOpType().equals("Sigmoid")) {
                editor.replaceNode(node, node.toBuilder().setOpType("Softmax").setName("/Softmax")
                        .addAttribute(io.modelrefinery.api.onnx.OnnxHelper.attr("axis", 1L)).build());
            }
        }
        var graph = editor.graph();
        ValueInfoProto.Builder output = graph.getOutputBuilder(0);
        output.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder().setDim(1,
                TensorShapeProto.Dimension.newBuilder().setDimValue(classes));
        return sample.withGraph(editor.build());
    }
}
