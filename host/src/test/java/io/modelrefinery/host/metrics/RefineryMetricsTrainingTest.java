package io.modelrefinery.host.metrics;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelrefinery.api.event.StepRecord;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Steps that train show up in Prometheus: epochs, throughput, last epoch's loss and accuracy. */
class RefineryMetricsTrainingTest {

    @Test
    void trainingStepsExportTheirLastEpoch() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        RefineryMetrics metrics = new RefineryMetrics(registry);
        metrics.stepFinished(new StepRecord("distill", "1.0.0", Map.of(), 1000, "cpu",
                Map.of("train-epochs", 2.0, "train-samples-per-second", 1500.0, "epoch-1-loss", 0.4,
                        "epoch-2-loss", 0.25, "epoch-2-accuracy", 0.96), List.of()));
        metrics.stepFinished(new StepRecord("fp16", "1.0.0", Map.of(), 10, "cpu", Map.of(), List.of()));

        String text = registry.scrape();
        assertTrue(text.contains("refinery_training_epochs_total{transform=\"distill\"} 2.0"), text);
        assertTrue(text.contains("refinery_training_samples_per_second_sum{transform=\"distill\"} 1500.0"), text);
        assertTrue(text.contains("refinery_training_loss_sum{transform=\"distill\"} 0.25"), text);
        assertTrue(text.contains("refinery_training_accuracy_sum{transform=\"distill\"} 0.96"), text);
        assertFalse(text.contains("transform=\"fp16\"} 2.0"), text);
    }
}
