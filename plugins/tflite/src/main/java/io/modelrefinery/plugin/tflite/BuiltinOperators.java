package io.modelrefinery.plugin.tflite;

/** TFLite's builtin operator codes (enum BuiltinOperator of the schema), for dispatch and messages. */
final class BuiltinOperators {
    static final int ADD = 0;
    static final int AVERAGE_POOL_2D = 1;
    static final int CONCATENATION = 2;
    static final int CONV_2D = 3;
    static final int DEPTHWISE_CONV_2D = 4;
    static final int DEPTH_TO_SPACE = 5;
    static final int DEQUANTIZE = 6;
    static final int FLOOR = 8;
    static final int FULLY_CONNECTED = 9;
    static final int L2_NORMALIZATION = 11;
    static final int LOGISTIC = 14;
    static final int MAX_POOL_2D = 17;
    static final int MUL = 18;
    static final int RELU = 19;
    static final int RELU_N1_TO_1 = 20;
    static final int RELU6 = 21;
    static final int RESHAPE = 22;
    static final int RESIZE_BILINEAR = 23;
    static final int SOFTMAX = 25;
    static final int SPACE_TO_DEPTH = 26;
    static final int TANH = 28;
    static final int CUSTOM = 32;
    static final int PAD = 34;
    static final int GATHER = 36;
    static final int BATCH_TO_SPACE_ND = 37;
    static final int SPACE_TO_BATCH_ND = 38;
    static final int TRANSPOSE = 39;
    static final int MEAN = 40;
    static final int SUB = 41;
    static final int DIV = 42;
    static final int SQUEEZE = 43;
    static final int UNIDIRECTIONAL_SEQUENCE_LSTM = 44;
    static final int STRIDED_SLICE = 45;
    static final int EXP = 47;
    static final int SPLIT = 49;
    static final int LOG_SOFTMAX = 50;
    static final int CAST = 53;
    static final int PRELU = 54;
    static final int MAXIMUM = 55;
    static final int ARG_MAX = 56;
    static final int MINIMUM = 57;
    static final int LESS = 58;
    static final int NEG = 59;
    static final int PADV2 = 60;
    static final int GREATER = 61;
    static final int GREATER_EQUAL = 62;
    static final int LESS_EQUAL = 63;
    static final int SELECT = 64;
    static final int SLICE = 65;
    static final int SIN = 66;
    static final int TRANSPOSE_CONV = 67;
    static final int TILE = 69;
    static final int EXPAND_DIMS = 70;
    static final int EQUAL = 71;
    static final int NOT_EQUAL = 72;
    static final int LOG = 73;
    static final int SUM = 74;
    static final int SQRT = 75;
    static final int RSQRT = 76;
    static final int SHAPE = 77;
    static final int POW = 78;
    static final int ARG_MIN = 79;
    static final int REDUCE_PROD = 81;
    static final int REDUCE_MAX = 82;
    static final int PACK = 83;
    static final int LOGICAL_OR = 84;
    static final int LOGICAL_AND = 86;
    static final int LOGICAL_NOT = 87;
    static final int UNPACK = 88;
    static final int REDUCE_MIN = 89;
    static final int SQUARE = 92;
    static final int RESIZE_NEAREST_NEIGHBOR = 97;
    static final int LEAKY_RELU = 98;
    static final int SQUARED_DIFFERENCE = 99;
    static final int MIRROR_PAD = 100;
    static final int ABS = 101;
    static final int SPLIT_V = 102;
    static final int CEIL = 104;
    static final int COS = 108;
    static final int ELU = 111;
    static final int QUANTIZE = 114;
    static final int ROUND = 116;
    static final int HARD_SWISH = 117;
    static final int SELECT_V2 = 123;
    static final int BATCH_MATMUL = 126;
    static final int GELU = 150;

    /** Names of codes 0 to 161, in order; later codes are named by number. */
    private static final String[] NAMES = ("ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE "
            + "DEQUANTIZE EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D "
            + "LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6 "
            + "RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM CALL CUSTOM "
            + "EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND "
            + "TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP "
            + "TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS "
            + "NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE "
            + "EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK "
            + "LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL "
            + "FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL "
            + "REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND "
            + "HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY "
            + "SEGMENT_SUM BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D "
            + "IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL "
            + "CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL "
            + "BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD "
            + "UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR "
            + "RIGHT_SHIFT").split(" ");

    private BuiltinOperators() {
    }

    static String name(int code) {
        return code >= 0 && code < NAMES.length ? NAMES[code] : "builtin operator " + code;
    }
}
