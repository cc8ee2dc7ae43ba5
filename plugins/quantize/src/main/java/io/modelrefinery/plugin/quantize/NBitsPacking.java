package io.modelrefinery.plugin.quantize;

/**
 * Byte layouts of block-quantized tensors in ONNX Runtime's contrib operators. Codes are packed low bits
 * first: for 4 bits, the first value in the low nibble of a byte and the second in the high nibble.
 *
 * <ul>
 *   <li>MatMulNBits {@code B}: uint8 {@code [N, blocks, blockSize * bits / 8]}, padding included;</li>
 *   <li>its packed {@code zero_points}: uint8 {@code [N, ceil(blocks * bits / 8)]}, each row packed apart;</li>
 *   <li>GatherBlockQuantized uint8 {@code data}: the table's rows packed along the last axis,
 *       {@code [rows, cols * bits / 8]}, and zero points packed the same way per row.</li>
 * </ul>
 */
final class NBitsPacking {
    private NBitsPacking() {
    }

    /** Packs {@code count} codes of {@code bits} (8, 4 or 2) from {@code from} into {@code out} at {@code at}. */
    static void pack(int[] codes, int from, int count, int bits, byte[] out, int at) {
        int perByte = 8 / bits;
        for (int i = 0; i < count; i++) {
            out[at + i / perByte] |= (byte) (codes[from + i] << ((i % perByte) * bits));
        }
    }

    /** The {@code index}-th code of {@code bits} in {@code packed} from byte {@code at}. */
    static int unpack(byte[] packed, int at, int index, int bits) {
        int perByte = 8 / bits;
        return (packed[at + index / perByte] & 0xff) >>> ((index % perByte) * bits) & ((1 << bits) - 1);
    }

    static int packedBytes(int count, int bits) {
        return (count * bits + 7) / 8;
    }

    /** MatMulNBits' {@code B}: every row's blocks, padding included, in order. */
    static byte[] weights(BlockQuantized q) {
        requirePackable(q.bits());
        byte[] out = new byte[packedBytes(q.codes().length, q.bits())];
        pack(q.codes(), 0, q.codes().length, q.bits(), out, 0);
        return out;
    }

    /** Integer zero points packed row by row ({@code [rows, ceil(blocks * bits / 8)]}). */
    static byte[] zeroPoints(BlockQuantized q) {
        requirePackable(q.bits());
        int blocks = q.blocks();
        int rowBytes = packedBytes(blocks, q.bits());
        byte[] out = new byte[q.rows() * rowBytes];
        int[] row = new int[blocks];
        for (int r = 0; r < q.rows(); r++) {
            for (int b = 0; b < blocks; b++) {
                row[b] = (int) q.zeroPoints()[r * blocks + b];
            }
            pack(row, 0, blocks, q.bits(), out, r * rowBytes);
        }
        return out;
    }

    /**
     * GatherBlockQuantized's uint8 {@code data}: each row's {@code cols} codes (padding dropped) packed.
     *
     * @throws IllegalArgumentException if a row does not fill whole bytes
     */
    static byte[] tableRows(BlockQuantized q) {
        requirePackable(q.bits());
        if (q.cols() * q.bits() % 8 != 0) {
            throw new IllegalArgumentException(q.cols() + " values of " + q.bits() + " bits do not fill whole bytes");
        }
        int rowBytes = q.cols() * q.bits() / 8;
        int padded = q.blocks() * q.blockSize();
        byte[] out = new byte[q.rows() * rowBytes];
        for (int r = 0; r < q.rows(); r++) {
            pack(q.codes(), r * padded, q.cols(), q.bits(), out, r * rowBytes);
        }
        return out;
    }

    private static void requirePackable(int bits) {
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("codes of " + bits + " bits are not packed whole into bytes");
        }
    }
}
