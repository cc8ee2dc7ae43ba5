package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;

import com.google.flatbuffers.Table;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Read access to the TensorFlow Lite flatbuffer tables the converter needs. Field ids are those of
 * TFLite's schema ({@code tensorflow/lite/schema/schema.fbs}); a field's vtable slot is {@code 4 + 2 * id},
 * and a union takes two ids, its type then its value. Absent fields read as the schema's defaults.
 */
final class TfliteTables {
    private TfliteTables() {
    }

    /** A table with typed field readers by field id. */
    abstract static class FlatTable extends Table {
        FlatTable at(int position, ByteBuffer buffer) {
            __reset(position, buffer);
            return this;
        }

        private int field(int id) {
            return __offset(4 + 2 * id);
        }

        boolean has(int id) {
            return field(id) != 0;
        }

        int int32(int id, int defaultValue) {
            int o = field(id);
            return o != 0 ? bb.getInt(o + bb_pos) : defaultValue;
        }

        long uint32(int id) {
            int o = field(id);
            return o != 0 ? Integer.toUnsignedLong(bb.getInt(o + bb_pos)) : 0;
        }

        long uint64(int id) {
            int o = field(id);
            return o != 0 ? bb.getLong(o + bb_pos) : 0;
        }

        byte int8(int id, byte defaultValue) {
            int o = field(id);
            return o != 0 ? bb.get(o + bb_pos) : defaultValue;
        }

        boolean bool(int id, boolean defaultValue) {
            int o = field(id);
            return o != 0 ? bb.get(o + bb_pos) != 0 : defaultValue;
        }

        float float32(int id, float defaultValue) {
            int o = field(id);
            return o != 0 ? bb.getFloat(o + bb_pos) : defaultValue;
        }

        /** A string field; one holding control characters (a corrupt length or offset) refuses the file. */
        String string(int id) {
            int o = field(id);
            String value = o != 0 ? __string(o + bb_pos) : null;
            if (value != null && value.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw new InvalidInputException("not a readable TFLite model: a name in it holds control characters "
                        + "(a corrupt string)");
            }
            return value;
        }

        /**
         * The length of a vector field, 0 if absent; a length that runs past the end of the file (a
         * corrupt or truncated one) is an IndexOutOfBoundsException, as a read there would be.
         */
        int length(int id) {
            return length(id, 4);
        }

        private int length(int id, int elementBytes) {
            int o = field(id);
            if (o == 0) {
                return 0;
            }
            int n = __vector_len(o);
            if (n < 0 || __vector(o) + (long) n * elementBytes > bb.limit()) {
                throw new IndexOutOfBoundsException("vector of " + n + " elements past the end of the file");
            }
            return n;
        }

        int[] ints(int id) {
            int o = field(id);
            int[] out = new int[length(id, 4)];
            for (int i = 0; i < out.length; i++) {
                out[i] = bb.getInt(__vector(o) + 4 * i);
            }
            return out;
        }

        long[] longs(int id) {
            int o = field(id);
            long[] out = new long[length(id, 8)];
            for (int i = 0; i < out.length; i++) {
                out[i] = bb.getLong(__vector(o) + 8 * i);
            }
            return out;
        }

        float[] floats(int id) {
            int o = field(id);
            float[] out = new float[length(id, 4)];
            for (int i = 0; i < out.length; i++) {
                out[i] = bb.getFloat(__vector(o) + 4 * i);
            }
            return out;
        }

        /** A {@code [ubyte]} field's bytes, little-endian, without copying; empty if absent. */
        ByteBuffer bytes(int id) {
            ByteBuffer view = __vector_as_bytebuffer(4 + 2 * id, 1);
            return view == null ? ByteBuffer.allocate(0) : view.slice().order(ByteOrder.LITTLE_ENDIAN);
        }

        /** The {@code i}-th table of a vector of tables, read into {@code into}. */
        <T extends FlatTable> T element(int id, int i, T into) {
            int o = field(id);
            int element = __vector(o) + 4 * i;
            into.at(__indirect(element), bb);
            return into;
        }

        /** A table field read into {@code into}, or null if absent. */
        <T extends FlatTable> T table(int id, T into) {
            int o = field(id);
            if (o == 0) {
                return null;
            }
            into.at(__indirect(o + bb_pos), bb);
            return into;
        }
    }

    /** {@code table Model}: the root. */
    static final class Model extends FlatTable {
        static final int VERSION = 0;
        static final int OPERATOR_CODES = 1;
        static final int SUBGRAPHS = 2;
        static final int DESCRIPTION = 3;
        static final int BUFFERS = 4;

        static Model root(ByteBuffer buffer) {
            ByteBuffer bb = buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            Model model = new Model();
            model.at(bb.getInt(bb.position()) + bb.position(), bb);
            return model;
        }

        long version() {
            return uint32(VERSION);
        }

        int operatorCodeCount() {
            return length(OPERATOR_CODES);
        }

        OperatorCode operatorCode(int i) {
            return element(OPERATOR_CODES, i, new OperatorCode());
        }

        int subgraphCount() {
            return length(SUBGRAPHS);
        }

        SubGraph subgraph(int i) {
            return element(SUBGRAPHS, i, new SubGraph());
        }

        int bufferCount() {
            return length(BUFFERS);
        }

        Buffer buffer(int i) {
            return element(BUFFERS, i, new Buffer());
        }
    }

    /** {@code table OperatorCode}. */
    static final class OperatorCode extends FlatTable {
        static final int DEPRECATED_BUILTIN_CODE = 0;
        static final int CUSTOM_CODE = 1;
        static final int VERSION = 2;
        static final int BUILTIN_CODE = 3;

        /** The builtin operator: the larger of the old byte field and the newer int field, as TFLite reads it. */
        int builtinCode() {
            return Math.max(int8(DEPRECATED_BUILTIN_CODE, (byte) 0), int32(BUILTIN_CODE, 0));
        }

        String customCode() {
            return string(CUSTOM_CODE);
        }
    }

    /** {@code table SubGraph}. */
    static final class SubGraph extends FlatTable {
        static final int TENSORS = 0;
        static final int INPUTS = 1;
        static final int OUTPUTS = 2;
        static final int OPERATORS = 3;
        static final int NAME = 4;

        int tensorCount() {
            return length(TENSORS);
        }

        TensorTable tensor(int i) {
            return element(TENSORS, i, new TensorTable());
        }

        int[] inputs() {
            return ints(INPUTS);
        }

        int[] outputs() {
            return ints(OUTPUTS);
        }

        int operatorCount() {
            return length(OPERATORS);
        }

        Operator operator(int i) {
            return element(OPERATORS, i, new Operator());
        }
    }

    /** {@code table Tensor}. */
    static final class TensorTable extends FlatTable {
        static final int SHAPE = 0;
        static final int TYPE = 1;
        static final int BUFFER = 2;
        static final int NAME = 3;
        static final int QUANTIZATION = 4;
        static final int IS_VARIABLE = 5;
        static final int SPARSITY = 6;
        static final int SHAPE_SIGNATURE = 7;

        int[] shape() {
            return ints(SHAPE);
        }

        int[] shapeSignature() {
            return ints(SHAPE_SIGNATURE);
        }

        byte type() {
            return int8(TYPE, (byte) 0);
        }

        long buffer() {
            return uint32(BUFFER);
        }

        String name() {
            return string(NAME);
        }

        QuantizationParameters quantization() {
            return table(QUANTIZATION, new QuantizationParameters());
        }

        boolean isVariable() {
            return bool(IS_VARIABLE, false);
        }

        boolean isSparse() {
            return has(SPARSITY);
        }
    }

    /** {@code table QuantizationParameters}: {@code real = scale * (q - zero_point)}. */
    static final class QuantizationParameters extends FlatTable {
        static final int SCALE = 2;
        static final int ZERO_POINT = 3;
        static final int DETAILS_TYPE = 4;
        static final int QUANTIZED_DIMENSION = 6;

        float[] scale() {
            return floats(SCALE);
        }

        long[] zeroPoint() {
            return longs(ZERO_POINT);
        }

        boolean hasCustomDetails() {
            return int8(DETAILS_TYPE, (byte) 0) != 0;
        }

        int quantizedDimension() {
            return int32(QUANTIZED_DIMENSION, 0);
        }
    }

    /** {@code table Buffer}. */
    static final class Buffer extends FlatTable {
        static final int DATA = 0;
        static final int OFFSET = 1;
        static final int SIZE = 2;

        ByteBuffer data() {
            return bytes(DATA);
        }

        /** Set when the data lives outside the flatbuffer (models above 2 GB). */
        long offset() {
            return uint64(OFFSET);
        }
    }

    /** {@code table Operator}. */
    static final class Operator extends FlatTable {
        static final int OPCODE_INDEX = 0;
        static final int INPUTS = 1;
        static final int OUTPUTS = 2;
        static final int BUILTIN_OPTIONS_TYPE = 3;
        static final int BUILTIN_OPTIONS = 4;

        long opcodeIndex() {
            return uint32(OPCODE_INDEX);
        }

        int[] inputs() {
            return ints(INPUTS);
        }

        int[] outputs() {
            return ints(OUTPUTS);
        }

        /** The builtin options table, read into {@code into}; null when the operator has none. */
        <T extends FlatTable> T options(T into) {
            return table(BUILTIN_OPTIONS, into);
        }
    }

    /** Any builtin options table: which fields it has is up to the operator. */
    static final class Options extends FlatTable {
    }

    /** Field ids of the builtin options tables used. */
    static final class OptionFields {
        static final int CONV_PADDING = 0;
        static final int CONV_STRIDE_W = 1;
        static final int CONV_STRIDE_H = 2;
        static final int CONV_ACTIVATION = 3;
        static final int CONV_DILATION_W = 4;
        static final int CONV_DILATION_H = 5;

        static final int DEPTHWISE_PADDING = 0;
        static final int DEPTHWISE_STRIDE_W = 1;
        static final int DEPTHWISE_STRIDE_H = 2;
        static final int DEPTHWISE_MULTIPLIER = 3;
        static final int DEPTHWISE_ACTIVATION = 4;
        static final int DEPTHWISE_DILATION_W = 5;
        static final int DEPTHWISE_DILATION_H = 6;

        static final int POOL_PADDING = 0;
        static final int POOL_STRIDE_W = 1;
        static final int POOL_STRIDE_H = 2;
        static final int POOL_FILTER_W = 3;
        static final int POOL_FILTER_H = 4;
        static final int POOL_ACTIVATION = 5;

        static final int FULLY_CONNECTED_ACTIVATION = 0;
        static final int FULLY_CONNECTED_WEIGHTS_FORMAT = 1;
        static final int FULLY_CONNECTED_KEEP_NUM_DIMS = 2;

        static final int SOFTMAX_BETA = 0;

        static final int CONCATENATION_AXIS = 0;
        static final int CONCATENATION_ACTIVATION = 1;

        /** AddOptions, SubOptions, MulOptions and DivOptions all start with the fused activation. */
        static final int ARITHMETIC_ACTIVATION = 0;

        static final int RESHAPE_NEW_SHAPE = 0;

        static final int REDUCER_KEEP_DIMS = 0;

        static final int LEAKY_RELU_ALPHA = 0;

        static final int TRANSPOSE_CONV_PADDING = 0;
        static final int TRANSPOSE_CONV_STRIDE_W = 1;
        static final int TRANSPOSE_CONV_STRIDE_H = 2;
        static final int TRANSPOSE_CONV_ACTIVATION = 3;

        static final int STRIDED_SLICE_BEGIN_MASK = 0;
        static final int STRIDED_SLICE_END_MASK = 1;
        static final int STRIDED_SLICE_ELLIPSIS_MASK = 2;
        static final int STRIDED_SLICE_NEW_AXIS_MASK = 3;
        static final int STRIDED_SLICE_SHRINK_AXIS_MASK = 4;
        static final int STRIDED_SLICE_OFFSET = 5;

        /** SplitOptions and SplitVOptions. */
        static final int SPLIT_NUM_SPLITS = 0;

        static final int GATHER_AXIS = 0;
        static final int GATHER_BATCH_DIMS = 1;

        static final int SQUEEZE_DIMS = 0;

        /** ResizeBilinearOptions starts with two deprecated fields (new_height, new_width). */
        static final int RESIZE_BILINEAR_ALIGN_CORNERS = 2;
        static final int RESIZE_BILINEAR_HALF_PIXEL_CENTERS = 3;
        static final int RESIZE_NEAREST_ALIGN_CORNERS = 0;
        static final int RESIZE_NEAREST_HALF_PIXEL_CENTERS = 1;

        static final int MIRROR_PAD_MODE = 0;

        static final int BATCH_MATMUL_ADJ_X = 0;
        static final int BATCH_MATMUL_ADJ_Y = 1;

        static final int SEQUENCE_LSTM_ACTIVATION = 0;
        static final int SEQUENCE_LSTM_CELL_CLIP = 1;
        static final int SEQUENCE_LSTM_PROJ_CLIP = 2;
        static final int SEQUENCE_LSTM_TIME_MAJOR = 3;
        static final int SEQUENCE_LSTM_DIAGONAL_RECURRENT = 5;

        /** ArgMaxOptions and ArgMinOptions. */
        static final int ARG_OUTPUT_TYPE = 0;

        static final int CAST_OUT_TYPE = 1;

        static final int SHAPE_OUT_TYPE = 0;

        static final int PACK_AXIS = 1;

        static final int UNPACK_NUM = 0;
        static final int UNPACK_AXIS = 1;

        /** SpaceToDepthOptions and DepthToSpaceOptions. */
        static final int BLOCK_SIZE = 0;

        static final int GELU_APPROXIMATE = 0;

        private OptionFields() {
        }
    }
}
