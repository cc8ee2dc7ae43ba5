package io.modelrefinery.host.job;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorShapeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.host.testing.ReliabilityReport;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generated hostile models through the job's front door (read, validate, load in ONNX Runtime, run a
 * pipeline): each must either work or be refused as bad input, with a one-line message; nothing else may
 * escape, and the JVM must survive every case. {@code -Drefinery.fuzz.cases=N} runs more (bench/).
 */
class HostileModelTest {
    static final int CASES = Integer.getInteger("refinery.fuzz.cases", 1200);

    @TempDir
    static Path dir;
    private static byte[] sample;
    private static ModelProto sampleProto;
    private static JobRunner runner;

    @BeforeAll
    static void setUp() throws Exception {
        sample = Files.readAllBytes(TestModels.sampleCnnFile());
        sampleProto = ModelProto.parseFrom(sample);
        InferenceService inference = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
        runner = new JobRunner(TransformCatalog.of(KEEP), inference, dir.resolve("scratch"));
    }

    private static final ModelTransform KEEP = TestTransforms.of(TestTransforms.descriptor("keep", TransformKind.OPTIMIZER)
            .build(), (c, input, p) -> TransformResult.of(input));

    /** Byte-level damage: flipped bits, cut files, inserted and deleted bytes. */
    private static byte[] damageBytes(Random random) {
        byte[] bytes = sample.clone();
        switch (random.nextInt(4)) {
            case 0 -> {
                for (int flips = 1 + random.nextInt(8); flips > 0; flips--) {
                    bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
                }
            }
            case 1 -> bytes = Arrays.copyOf(bytes, random.nextInt(bytes.length));
            case 2 -> {
                int at = random.nextInt(bytes.length);
                byte[] longer = new byte[bytes.length + 1];
                System.arraycopy(bytes, 0, longer, 0, at);
                longer[at] = (byte) random.nextInt(256);
                System.arraycopy(bytes, at, longer, at + 1, bytes.length - at);
                bytes = longer;
            }
            default -> {
                int at = random.nextInt(bytes.length);
                byte[] shorter = new byte[bytes.length - 1];
                System.arraycopy(bytes, 0, shorter, 0, at);
                System.arraycopy(bytes, at + 1, shorter, at, bytes.length - at - 1);
                bytes = shorter;
            }
        }
        return bytes;
    }

    private static long oddDim(Random random) {
        long[] dims = {-1, -7, 0, 1L << 40, Long.MAX_VALUE, Integer.MAX_VALUE + 1L, 3};
        return dims[random.nextInt(dims.length)];
    }

    /** Structural damage that parses: each kind names what it does, for the summary. */
    private static final List<Map.Entry<String, BiFunction<ModelProto, Random, ModelProto>>> STRUCTURAL = List.of(
            Map.entry("odd initializer dims", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                TensorProto.Builder t = g.getInitializerBuilder(r.nextInt(g.getInitializerCount()));
                if (t.getDimsCount() > 0) {
                    t.setDims(r.nextInt(t.getDimsCount()), oddDim(r));
                } else {
                    t.addDims(oddDim(r));
                }
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("missing initializer", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                g.removeInitializer(r.nextInt(g.getInitializerCount()));
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("wrong data type", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                g.getInitializerBuilder(r.nextInt(g.getInitializerCount())).setDataType(r.nextInt(30) - 2);
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("short tensor data", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                TensorProto.Builder t = g.getInitializerBuilder(r.nextInt(g.getInitializerCount()));
                t.setRawData(t.getRawData().substring(0, r.nextInt(Math.max(1, t.getRawData().size()))));
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("undefined node input", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
                if (n.getInputCount() > 0) {
                    n.setInput(r.nextInt(n.getInputCount()), "nowhere_" + r.nextInt(100));
                }
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("cycle", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                int late = 1 + r.nextInt(g.getNodeCount() - 1);
                int early = r.nextInt(late);
                NodeProto.Builder n = g.getNodeBuilder(early);
                if (n.getInputCount() > 0) {
                    n.setInput(0, g.getNode(late).getOutput(0));
                }
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("value defined twice", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                int a = r.nextInt(g.getNodeCount());
                int b = r.nextInt(g.getNodeCount());
                g.getNodeBuilder(a).setOutput(0, g.getNode(b).getOutput(0));
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("odd operator set", (m, r) -> {
                long[] versions = {0, -3, 1, 5, 27, 1000, Long.MAX_VALUE};
                return m.toBuilder().setOpsetImport(0, m.getOpsetImport(0).toBuilder()
                        .setVersion(versions[r.nextInt(versions.length)])).build();
            }),
            Map.entry("odd IR version", (m, r) -> m.toBuilder().setIrVersion(r.nextInt(40) - 5).build()),
            Map.entry("odd attribute", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
                if (n.getAttributeCount() > 0) {
                    AttributeProto.Builder a = n.getAttributeBuilder(r.nextInt(n.getAttributeCount()));
                    if (a.getIntsCount() > 0) {
                        a.setInts(r.nextInt(a.getIntsCount()), oddDim(r));
                    } else {
                        a.setType(AttributeProto.AttributeType.forNumber(r.nextInt(14)) == null
                                ? AttributeProto.AttributeType.GRAPH : AttributeProto.AttributeType.forNumber(r.nextInt(14)));
                    }
                }
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("odd input shape or type", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                ValueInfoProto.Builder v = g.getInputBuilder(0);
                TensorShapeProto.Builder shape = v.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder();
                if (r.nextBoolean() && shape.getDimCount() > 0) {
                    shape.getDimBuilder(r.nextInt(shape.getDimCount())).setDimValue(oddDim(r));
                } else {
                    v.getTypeBuilder().getTensorTypeBuilder().setElemType(r.nextInt(30) - 2);
                }
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("external data escaping the folder", (m, r) -> {
                String[] places = {"../../etc/passwd", "/etc/passwd", "missing.bin", "sub/../../x", "..", ""};
                GraphProto.Builder g = m.getGraph().toBuilder();
                TensorProto.Builder t = g.getInitializerBuilder(r.nextInt(g.getInitializerCount()));
                t.clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(StringStringEntryProto.newBuilder().setKey("location")
                                .setValue(places[r.nextInt(places.length)]))
                        .addExternalData(StringStringEntryProto.newBuilder().setKey("length")
                                .setValue(Long.toString(oddDim(r))));
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("unknown operator", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
                n.setOpType(r.nextBoolean() ? "NoSuchOp" + r.nextInt(5) : n.getOpType()).setDomain(r.nextBoolean() ? ""
                        : "com.example");
                return m.toBuilder().setGraph(g).build();
            }),
            Map.entry("graph output not produced", (m, r) -> {
                GraphProto.Builder g = m.getGraph().toBuilder();
                g.getOutputBuilder(0).setName(r.nextBoolean() ? "unproduced" : "");
                return m.toBuilder().setGraph(g).build();
            }));

    @Test
    void everyDamagedModelIsEitherUsableOrRefusedAsBadInput() throws Exception {
        Random random = new Random(20261123);
        Map<String, int[]> outcomes = new TreeMap<>(); // kind -> {worked, refused}
        List<String> escaped = new ArrayList<>();
        Path file = dir.resolve("hostile.onnx");
        for (int i = 0; i < CASES; i++) {
            String kind;
            byte[] bytes;
            if (random.nextInt(3) == 0) {
                kind = "damaged bytes";
                bytes = damageBytes(random);
            } else {
                var mutation = STRUCTURAL.get(random.nextInt(STRUCTURAL.size()));
                kind = mutation.getKey();
                bytes = mutation.getValue().apply(sampleProto, random).toByteArray();
            }
            Files.write(file, bytes);
            int[] counts = outcomes.computeIfAbsent(kind, k -> new int[2]);
            try {
                runner.run(new JobRequest("job-hostile", new ModelRef("hostile", Integer.toString(i)), file.toUri().toString(),
                        file, null, PipelineSpec.parse("keep"), null, null, null, null), JobListener.none(), Cancellation.never());
                counts[0]++;
            } catch (InvalidInputException e) {
                counts[1]++;
                if (e.getMessage() == null || e.getMessage().isBlank() || e.getMessage().contains("\n")) {
                    escaped.add("case " + i + " (" + kind + "): refusal is not one line: " + e.getMessage());
                }
            } catch (RuntimeException | Error e) {
                escaped.add("case " + i + " (" + kind + "): " + e);
            }
        }
        StringBuilder summary = new StringBuilder("| damage | cases | worked | refused as bad input |\n|---|---|---|---|\n");
        outcomes.forEach((kind, counts) -> summary.append("| ").append(kind).append(" | ").append(counts[0] + counts[1])
                .append(" | ").append(counts[0]).append(" | ").append(counts[1]).append(" |\n"));
        ReliabilityReport.write("hostile-models.md", summary.toString());
        assertEquals(List.of(), escaped);
        assertEquals(CASES, outcomes.values().stream().mapToInt(c -> c[0] + c[1]).sum());
        assertTrue(outcomes.values().stream().mapToInt(c -> c[1]).sum() > CASES / 2, "most cases are refused");

        Path good = dir.resolve("good.onnx");
        Files.write(good, sample);
        runner.run(new JobRequest("job-good", new ModelRef("good", "1"), good.toUri().toString(), good, null,
                PipelineSpec.parse("keep"), null, null, null, null), JobListener.none(), Cancellation.never());
    }
}
