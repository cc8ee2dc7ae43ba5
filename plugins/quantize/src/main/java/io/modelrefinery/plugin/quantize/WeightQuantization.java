package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.LayerSensitivity;
import org.slf4j.Logger;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Quantizes each found layer by the chosen method and measures what it cost: the SQNR of the layer's product
 * on the calibration inputs when there are any (exact, from the layer Hessian), else of its weights.
 * Embedding tables are always rounded to nearest: GPTQ needs a product to compensate, and GatherBlockQuantized
 * stores zero points as integers, which HQQ's are not.
 */
final class WeightQuantization {
    /** SQNR reported for a layer rounded without error. */
    private static final double EXACT_DB = 200;

    record Settings(int bits, int blockSize, QuantizeWeightsTransform.Method method, boolean symmetric,
                    double damping) {
    }

    /**
     * What was done.
     *
     * @param floatBytes bytes of the float weights replaced
     * @param worstSqnr the lowest SQNR of a MatMul or Gemm, or {@code null} if none was quantized
     * @param samples calibration samples the Hessians were summed over
     * @param products MatMul and Gemm nodes quantized
     * @param tables Gather nodes quantized
     * @param outputSqnr each MatMul or Gemm's own output SQNR on the calibration samples (the Hessian's inputs),
     *     in the api's form; empty without calibration data, where only the weights' SQNR is known
     */
    record Report(long floatBytes, Double worstSqnr, long samples, int products, int tables, List<String> notes,
                  List<LayerSensitivity.Layer> outputSqnr) {
    }

    private record Measured(String layer, double sqnr) {
    }

    private final Settings settings;
    private final Logger logger;

    WeightQuantization(Settings settings, Logger logger) {
        this.settings = settings;
        this.logger = logger;
    }

    Report apply(List<WeightLayer> layers, LayerHessians hessians, NBitsRewriter rewriter, Cancellation cancellation) {
        List<Measured> products = new ArrayList<>();
        List<Measured> tables = new ArrayList<>();
        List<LayerSensitivity.Layer> outputSqnr = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        Set<String> counted = new HashSet<>();
        long floatBytes = 0;
        for (WeightLayer layer : layers) {
            cancellation.throwIfCancelled();
            if (!layer.isProduct() && layer.cols() * settings.bits() % 8 != 0) {
                notes.add("left float: " + layer.name() + ": a row of " + layer.cols() + " values of " + settings.bits()
                        + " bits does not fill whole bytes");
                continue;
            }
            double[] hessian = hessians.of(layer);
            BlockQuantized q = quantize(layer, hessian);
            rewriter.rewrite(layer, q);
            if (counted.add(layer.weight())) {
                floatBytes += 4L * layer.rows() * layer.cols();
            }
            float[] dq = q.dequantize();
            hessians.quantized(layer, dq);
            double sqnr = hessian != null ? LayerError.outputSqnr(layer.matrix(), dq, layer.rows(), layer.cols(), hessian)
                    : LayerError.weightSqnr(layer.matrix(), dq);
            sqnr = Math.min(sqnr, EXACT_DB);
            (layer.isProduct() ? products : tables).add(new Measured(layer.name(), sqnr));
            if (layer.isProduct() && hessian != null) {
                outputSqnr.add(new LayerSensitivity.Layer(layer.name(), sqnr));
            }
            logger.info("{} [{} x {}]: {} SQNR {} dB", layer.name(), layer.rows(), layer.cols(),
                    hessian != null ? "output" : "weight", String.format(Locale.ROOT, "%.1f", sqnr));
        }
        if (!products.isEmpty()) {
            notes.add((hessians.samples() == 0 ? "weight SQNR of MatMul/Gemm layers (no calibration data)"
                    : "output SQNR of MatMul/Gemm layers on " + hessians.samples() + " calibration samples")
                    + ", worst five: "
                    + worst(products));
        }
        if (!tables.isEmpty()) {
            notes.add("weight SQNR of embedding tables, worst five: " + worst(tables));
        }
        Double worstSqnr = products.stream().map(Measured::sqnr).min(Double::compare).orElse(null);
        return new Report(floatBytes, worstSqnr, hessians.samples(), products.size(), tables.size(), notes, outputSqnr);
    }

    private BlockQuantized quantize(WeightLayer layer, double[] hessian) {
        int bits = settings.bits();
        int block = settings.blockSize();
        if (layer.isProduct() && settings.method() == QuantizeWeightsTransform.Method.GPTQ && hessian != null) {
            return Gptq.quantize(layer.matrix(), layer.rows(), layer.cols(), hessian, bits, block, settings.symmetric(),
                    settings.damping());
        }
        if (layer.isProduct() && settings.method() == QuantizeWeightsTransform.Method.HQQ) {
            return Hqq.quantize(layer.matrix(), layer.rows(), layer.cols(), bits, block);
        }
        return BlockRounding.quantize(layer.matrix(), layer.rows(), layer.cols(), bits, block, settings.symmetric());
    }

    private static String worst(List<Measured> measured) {
        StringBuilder text = new StringBuilder();
        measured.stream().sorted(Comparator.comparingDouble(Measured::sqnr)).limit(5).forEach(m -> text
                .append(text.length() == 0 ? "" : ", ").append(m.layer()).append(' ')
                .append(String.format(Locale.ROOT, "%.1f", m.sqnr())).append(" dB"));
        return text.toString();
    }
}
