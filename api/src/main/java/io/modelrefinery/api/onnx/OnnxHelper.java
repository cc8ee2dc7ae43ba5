package io.modelrefinery.api.onnx;

import com.google.protobuf.ByteString;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorShapeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TypeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Builds and reads ONNX protos with less ceremony, like the {@code onnx.helper} module of ONNX's Python
 * package: nodes with attributes, value infos, graphs, models, and typed attribute getters.
 */
public final class OnnxHelper {
    /** IR version written by {@link #model}: the one ONNX Runtime 1.17 and later read. */
    public static final long DEFAULT_IR_VERSION = 9;

    private OnnxHelper() {
    }

    /** A node of the default domain. */
    public static NodeProto node(String opType, List<String> inputs, List<String> outputs, AttributeProto... attributes) {
        return node(opType, "", inputs, outputs, attributes);
    }

    public static NodeProto node(String opType, String domain, List<String> inputs, List<String> outputs,
                                 AttributeProto... attributes) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(opType).addAllInput(inputs).addAllOutput(outputs);
        if (!domain.isEmpty()) {
            b.setDomain(domain);
        }
        if (!outputs.isEmpty()) {
            b.setName(outputs.get(0) + "_" + opType);
        }
        for (AttributeProto a : attributes) {
            b.addAttribute(a);
        }
        return b.build();
    }

    public static AttributeProto attr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    public static AttributeProto attr(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value).build();
    }

    public static AttributeProto attr(String name, String value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(value)).build();
    }

    public static AttributeProto attr(String name, long... values) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            b.addInts(v);
        }
        return b.build();
    }

    public static AttributeProto attr(String name, float... values) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOATS);
        for (float v : values) {
            b.addFloats(v);
        }
        return b.build();
    }

    public static AttributeProto attr(String name, TensorProto value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.TENSOR).setT(value).build();
    }

    public static AttributeProto attr(String name, GraphProto value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.GRAPH).setG(value).build();
    }

    /** A tensor value info; a dimension of -1 becomes a symbolic dimension named {@code N}, {@code N1}, .... */
    public static ValueInfoProto valueInfo(String name, DataType type, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        int symbolic = 0;
        for (long d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d < 0) {
                dim.setDimParam(symbolic == 0 ? "N" : "N" + symbolic);
                symbolic++;
            } else {
                dim.setDimValue(d);
            }
            shape.addDim(dim);
        }
        TypeProto.Builder tensorType = TypeProto.newBuilder();
        tensorType.getTensorTypeBuilder().setElemType(type.code()).setShape(shape);
        return ValueInfoProto.newBuilder().setName(name).setType(tensorType).build();
    }

    public static GraphProto graph(String name, List<NodeProto> nodes, List<ValueInfoProto> inputs,
                                   List<ValueInfoProto> outputs, List<TensorProto> initializers) {
        return GraphProto.newBuilder().setName(name).addAllNode(nodes).addAllInput(inputs).addAllOutput(outputs)
                .addAllInitializer(initializers).build();
    }

    /** A model of the default operator set {@code opset}. */
    public static ModelProto model(GraphProto graph, long opset) {
        return ModelProto.newBuilder()
                .setIrVersion(DEFAULT_IR_VERSION)
                .setProducerName("model-refinery")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
                .setGraph(graph)
                .build();
    }

    // ---------------------------------------------------------------- reading attributes

    public static Optional<AttributeProto> attribute(NodeProto node, String name) {
        for (AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return Optional.of(a);
            }
        }
        return Optional.empty();
    }

    public static long getInt(NodeProto node, String name, long defaultValue) {
        return attribute(node, name).map(AttributeProto::getI).orElse(defaultValue);
    }

    public static float getFloat(NodeProto node, String name, float defaultValue) {
        return attribute(node, name).map(AttributeProto::getF).orElse(defaultValue);
    }

    public static String getString(NodeProto node, String name, String defaultValue) {
        return attribute(node, name).map(a -> a.getS().toStringUtf8()).orElse(defaultValue);
    }

    public static List<Long> getInts(NodeProto node, String name) {
        return attribute(node, name).map(a -> (List<Long>) new ArrayList<>(a.getIntsList())).orElse(List.of());
    }

    /** The element type declared for a tensor value info, or empty if it is not a typed tensor. */
    public static Optional<DataType> elementType(ValueInfoProto info) {
        if (!info.getType().hasTensorType() || !info.getType().getTensorType().hasElemType()) {
            return Optional.empty();
        }
        return Optional.ofNullable(DataType.fromCode(info.getType().getTensorType().getElemType()));
    }

    /** The dims declared for a tensor value info, -1 for symbolic or unknown dims; empty if no shape. */
    public static Optional<long[]> shape(ValueInfoProto info) {
        if (!info.getType().hasTensorType() || !info.getType().getTensorType().hasShape()) {
            return Optional.empty();
        }
        TensorShapeProto shape = info.getType().getTensorType().getShape();
        long[] dims = new long[shape.getDimCount()];
        for (int i = 0; i < dims.length; i++) {
            TensorShapeProto.Dimension d = shape.getDim(i);
            dims[i] = d.hasDimValue() ? d.getDimValue() : -1;
        }
        return Optional.of(dims);
    }
}
