package io.modelrefinery.host.metrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.host.kafka.ConsumerGroupLag;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.testing.TestModels;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every metric a Grafana dashboard of {@code dashboards/} queries is one the host exports, under the
 * labels the panel filters on: the meters are recorded through {@link RefineryMetrics}, a real Kafka
 * consumer's client metrics and the consumer group lag gauge, scraped as Prometheus text, and compared
 * with the metric names and label matchers of every panel expression, and of the alerting rules of
 * {@code deploy/prometheus/alerts.yml}. ({@code bench/dashboards.sh} runs the same expressions against a
 * real Prometheus scraping a running service.)
 */
class DashboardsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A metric name followed by its label matchers, {@code name{a="b",c=~"d"}}. */
    private static final Pattern SELECTOR = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\{([^}]*)}");
    private static final Pattern MATCHER = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!=|!~|=)\\s*\"");

    private static List<Path> dashboards() throws IOException {
        try (Stream<Path> s = Files.list(TestModels.root().resolve("dashboards"))) {
            return s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
    }

    private static List<String> expressions(JsonNode dashboard) {
        List<String> exprs = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            List<JsonNode> all = new ArrayList<>(List.of(panel));
            panel.path("panels").forEach(all::add);
            for (JsonNode p : all) {
                p.path("targets").forEach(t -> exprs.add(t.path("expr").asText()));
            }
        }
        for (JsonNode variable : dashboard.at("/templating/list")) {
            if (variable.path("type").asText().equals("query")) {
                exprs.add(variable.at("/query/query").asText());
            }
        }
        return exprs;
    }

    /** What a refinery that ran a few jobs exports: metric name to the label names it carries. */
    private static String scrape() {
        PrometheusMeterRegistry registry = RefineryMetrics.prometheusRegistry();
        RefineryMetrics metrics = new RefineryMetrics(registry);
        metrics.pluginGauge("ACTIVE", new Object(), o -> 3);
        metrics.jobFinished("optimized", "fp16", Duration.ofMillis(800));
        StepRecord step = new StepRecord("fp16", "1.0.0", Map.of(), 120, "cpu", Map.of(), List.of());
        metrics.stepFinished(step);
        metrics.modelSizes(14_760, 8_225);
        metrics.jobFailed("fetch", "fp16");
        ArtifactSummary summary = new ArtifactSummary("file:/m.onnx", "00", 14_760, 13_251, 3_337, 0.0);
        Evaluation evaluation = new Evaluation(0, "cpu", null, null, null, null, null, 0.05, 0.05, 0.06, 0.06,
                List.of(new GateResult("max-latency-ratio", 0.001, 0.95, false, "over")));
        metrics.evaluated(new JobReport("job-1", new ModelRef("m", "1"), "fp16", summary, summary, List.of(step),
                evaluation, null, List.of()));
        // A consumer that never connects still registers its fetch and coordinator metrics.
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:9",
                ConsumerConfig.GROUP_ID_CONFIG, "dashboards-test",
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class));
             KafkaClientMetrics kafka = new KafkaClientMetrics(consumer);
             ConsumerGroupLag groupLag = new ConsumerGroupLag(new KafkaSettings("127.0.0.1:9", "dashboards-test",
                     EventTopics.defaults(), 1, Map.of()), "dashboards-test-lag")) {
            kafka.bindTo(registry);
            groupLag.bindMetrics(registry);
            return registry.scrape();
        }
    }

    @Test
    void everyQueriedMetricIsExportedWithTheLabelsThePanelsUse() throws IOException {
        String scraped = scrape();
        Set<String> missing = new TreeSet<>();
        int checked = 0;
        for (Path file : dashboards()) {
            for (String expr : expressions(JSON.readTree(file.toFile()))) {
                Matcher selector = SELECTOR.matcher(expr);
                boolean any = false;
                while (selector.find()) {
                    any = true;
                    checked++;
                    String name = selector.group(1);
                    Set<String> labels = labelsOf(scraped, name);
                    if (labels == null) {
                        missing.add(file.getFileName() + ": " + name);
                        continue;
                    }
                    Matcher m = MATCHER.matcher(selector.group(2));
                    while (m.find()) {
                        // instance and job are added by Prometheus when it scrapes.
                        if (!Set.of("instance", "job").contains(m.group(1)) && !labels.contains(m.group(1))) {
                            missing.add(file.getFileName() + ": " + name + " has no label " + m.group(1));
                        }
                    }
                }
                assertTrue(any, file.getFileName() + ": every expression selects with label matchers: " + expr);
            }
        }
        assertTrue(missing.isEmpty(), "queried but not exported: " + missing);
        assertTrue(checked >= 15, "checked " + checked + " selectors");
    }

    @Test
    void everyAlertingRuleQueriesExportedMetrics() throws IOException {
        String scraped = scrape();
        JsonNode rules = new YAMLMapper().readTree(TestModels.root().resolve("deploy/prometheus/alerts.yml").toFile());
        Set<String> missing = new TreeSet<>();
        int checked = 0;
        for (JsonNode group : rules.get("groups")) {
            for (JsonNode rule : group.get("rules")) {
                String expr = rule.get("expr").asText();
                Matcher names = Pattern.compile("\\b(refinery_[a-z_]+)").matcher(expr);
                while (names.find()) {
                    checked++;
                    if (labelsOf(scraped, names.group(1)) == null) {
                        missing.add(rule.get("alert").asText() + ": " + names.group(1));
                    }
                }
                Matcher selector = SELECTOR.matcher(expr);
                while (selector.find()) {
                    Set<String> labels = labelsOf(scraped, selector.group(1));
                    Matcher m = MATCHER.matcher(selector.group(2));
                    while (labels != null && m.find()) {
                        if (!Set.of("instance", "job").contains(m.group(1)) && !labels.contains(m.group(1))) {
                            missing.add(rule.get("alert").asText() + ": " + selector.group(1) + " has no label " + m.group(1));
                        }
                    }
                }
            }
        }
        assertTrue(missing.isEmpty(), "alerting on what is not exported: " + missing);
        assertTrue(checked >= 4, "checked " + checked + " metric names");
    }

    /** Label names of the samples of {@code name} in Prometheus text, or null when there is none. */
    private static Set<String> labelsOf(String scraped, String name) {
        Pattern sample = Pattern.compile("(?m)^" + Pattern.quote(name) + "(?:\\{([^}]*)})? ");
        Matcher m = sample.matcher(scraped);
        Set<String> labels = null;
        while (m.find()) {
            labels = labels == null ? new HashSet<>() : labels;
            if (m.group(1) != null) {
                for (String pair : m.group(1).split(",(?=[a-zA-Z_]+=\")")) {
                    labels.add(pair.substring(0, pair.indexOf('=')));
                }
            }
        }
        return labels;
    }

    @Test
    void dashboardsOfferInstanceAndPipelineAndUseTheirDataSourceVariable() throws IOException {
        List<Path> files = dashboards();
        assertFalse(files.isEmpty());
        Set<String> uids = new HashSet<>();
        for (Path file : files) {
            JsonNode dashboard = JSON.readTree(file.toFile());
            assertTrue(uids.add(dashboard.get("uid").asText()), "unique uid " + file);
            Set<String> variables = new HashSet<>();
            dashboard.at("/templating/list").forEach(v -> variables.add(v.get("name").asText()));
            assertTrue(variables.containsAll(List.of("datasource", "instance", "pipeline")), file + ": " + variables);
            for (JsonNode panel : dashboard.get("panels")) {
                if (panel.path("type").asText().equals("row")) {
                    continue;
                }
                assertEquals("${datasource}", panel.at("/datasource/uid").asText(), panel.get("title").asText());
                assertTrue(panel.path("targets").size() > 0, panel.get("title").asText());
                for (JsonNode target : panel.get("targets")) {
                    assertTrue(target.get("expr").asText().contains("instance=~\"$instance\""),
                            panel.get("title").asText() + " filters by instance");
                }
            }
        }
    }
}
