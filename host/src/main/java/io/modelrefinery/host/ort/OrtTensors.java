package io.modelrefinery.host.ort;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo.OnnxTensorType;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Converts between the API's {@link Tensor} and ONNX Runtime's {@link OnnxTensor}. */
final class OrtTensors {
    private static final Map<DataType, OnnxJavaType> JAVA_TYPES = Map.ofEntries(
            Map.entry(DataType.FLOAT, OnnxJavaType.FLOAT), Map.entry(DataType.DOUBLE, OnnxJavaType.DOUBLE),
            Map.entry(DataType.INT8, OnnxJavaType.INT8), Map.entry(DataType.UINT8, OnnxJavaType.UINT8),
            Map.entry(DataType.INT16, OnnxJavaType.INT16), Map.entry(DataType.INT32, OnnxJavaType.INT32),
            Map.entry(DataType.INT64, OnnxJavaType.INT64), Map.entry(DataType.BOOL, OnnxJavaType.BOOL),
            Map.entry(DataType.FLOAT16, OnnxJavaType.FLOAT16), Map.entry(DataType.BFLOAT16, OnnxJavaType.BFLOAT16));

    private static final String ORT_TYPE_PREFIX = "ONNX_TENSOR_ELEMENT_DATA_TYPE_";

    static {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("tensor data is exchanged with ONNX Runtime in little-endian order");
        }
    }

    private OrtTensors() {
    }

    /**
     * The API type of an ONNX Runtime tensor type. Matched by name: the Java enum's numbers are its own,
     * not ONNX's.
     */
    static DataType dataType(OnnxTensorType type) {
        String name = type.name().substring(ORT_TYPE_PREFIX.length());
        try {
            return DataType.valueOf(name);
        } catch (IllegalArgumentException e) {
            return DataType.UNDEFINED;
        }
    }

    static OnnxTensor toOnnx(OrtEnvironment environment, Tensor tensor) throws OrtException {
        if (tensor.type() == DataType.STRING) {
            return OnnxTensor.createTensor(environment, tensor.toStringList().toArray(new String[0]), tensor.shape());
        }
        ByteBuffer direct = ByteBuffer.allocateDirect((int) tensor.byteSize()).order(ByteOrder.nativeOrder());
        direct.put(tensor.data()).flip();
        return overBuffer(environment, direct, tensor.type(), tensor.shape());
    }

    /**
     * An ONNX Runtime tensor over {@code buffer} (direct, native order) of {@code type} and {@code shape}: a feed
     * copied into it, or an output for ONNX Runtime to write into.
     */
    static OnnxTensor overBuffer(OrtEnvironment environment, ByteBuffer buffer, DataType type, long[] shape)
            throws OrtException {
        OnnxJavaType javaType = JAVA_TYPES.get(type);
        if (javaType == null) {
            throw new InferenceException("ONNX Runtime's Java API cannot take " + type + " tensors", null);
        }
        return OnnxTensor.createTensor(environment, buffer, shape, javaType);
    }

    static Tensor fromOnnx(OnnxTensor tensor) throws OrtException {
        ai.onnxruntime.TensorInfo info = tensor.getInfo();
        DataType type = dataType(info.onnxType);
        long[] shape = info.getShape();
        if (type == DataType.STRING) {
            List<String> flat = new ArrayList<>();
            flatten(tensor.getValue(), flat);
            return Tensor.ofStrings(shape, flat);
        }
        if (!JAVA_TYPES.containsKey(type)) {
            throw new InferenceException("ONNX Runtime returned a " + type + " tensor, which its Java API cannot read", null);
        }
        ByteBuffer data = tensor.getByteBuffer();
        return Tensor.of(type, shape, data.order(ByteOrder.LITTLE_ENDIAN));
    }

    private static void flatten(Object value, List<String> out) {
        if (value instanceof String) {
            out.add((String) value);
        } else if (value instanceof Object[]) {
            for (Object element : (Object[]) value) {
                flatten(element, out);
            }
        }
    }
}
