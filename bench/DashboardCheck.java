import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs every PromQL expression of every panel of the given Grafana dashboards against a Prometheus
 * server's HTTP API (instant queries at the current time) and fails when any expression is refused,
 * returns no series, or returns only NaN (a rate or quantile over a window in which nothing happened).
 * Template variables take their "All" value ({@code .*}); Grafana's interval variables take fixed windows
 * ({@code $__rate_interval} 2m) that cover the feed. Each {@code label_values(METRIC, LABEL)} variable query
 * must find at least one value.
 *
 * Run: java -cp dist/refinery.jar bench/DashboardCheck.java PROMETHEUS_URL DASHBOARD.json...
 */
public class DashboardCheck {
    private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\((.*),\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\)");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    record Checked(String dashboard, String panel, String expr, int series, int finite, String sample, String error) { }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: DashboardCheck PROMETHEUS_URL DASHBOARD.json...");
            System.exit(2);
        }
        String prometheus = args[0];
        List<Checked> results = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            Path file = Path.of(args[i]);
            JsonNode dashboard = JSON.readTree(Files.readString(file));
            String name = file.getFileName().toString();
            for (JsonNode variable : dashboard.path("templating").path("list")) {
                if (!variable.path("type").asText().equals("query")) {
                    continue;
                }
                String definition = variable.path("query").isObject() ? variable.path("query").path("query").asText()
                        : variable.path("query").asText();
                Matcher m = LABEL_VALUES.matcher(definition);
                if (!m.matches()) {
                    results.add(new Checked(name, "$" + variable.path("name").asText(), definition, 0, 0, "",
                            "only label_values(METRIC, LABEL) variable queries are checked"));
                    continue;
                }
                String expr = substitute(m.group(1));
                String label = m.group(2);
                results.add(check(prometheus, name, "$" + variable.path("name").asText(),
                        "count by (" + label + ") (" + expr + ")", label));
            }
            for (JsonNode panel : panels(dashboard)) {
                for (JsonNode target : panel.path("targets")) {
                    String expr = target.path("expr").asText("");
                    if (!expr.isBlank()) {
                        results.add(check(prometheus, name, panel.path("title").asText() + " (" + target.path("refId").asText()
                                + ")", substitute(expr), null));
                    }
                }
            }
        }
        int failed = 0;
        System.out.println("| dashboard | panel (query) | series | finite | a value | result |");
        System.out.println("|---|---|---|---|---|---|");
        for (Checked c : results) {
            boolean ok = c.error() == null && c.series() > 0 && c.finite() > 0;
            failed += ok ? 0 : 1;
            System.out.printf(Locale.ROOT, "| %s | %s | %d | %d | %s | %s |%n", c.dashboard(), c.panel(), c.series(),
                    c.finite(), c.sample(),
                    ok ? "ok" : c.error() != null ? "ERROR " + c.error()
                            : (c.series() == 0 ? "NO SERIES: " : "ONLY NaN: ") + c.expr());
        }
        System.out.printf(Locale.ROOT, "%d expressions checked, %d failed%n", results.size(), failed);
        System.exit(failed == 0 ? 0 : 1);
    }

    /** Panels, including those nested in collapsed rows. */
    private static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> all = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            all.add(panel);
            panel.path("panels").forEach(all::add);
        }
        return all;
    }

    /** Grafana's variables as the dashboard's defaults would expand them. */
    static String substitute(String expr) {
        return expr.replace("$__rate_interval", "2m").replace("$__interval", "15s").replace("$__range", "5m")
                .replace("${instance}", ".*").replace("$instance", ".*")
                .replace("${pipeline}", ".*").replace("$pipeline", ".*");
    }

    private static Checked check(String prometheus, String dashboard, String panel, String expr, String label) {
        try {
            HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(prometheus + "/api/v1/query?query="
                    + URLEncoder.encode(expr, StandardCharsets.UTF_8))).timeout(Duration.ofSeconds(30)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            JsonNode body = JSON.readTree(response.body());
            if (!"success".equals(body.path("status").asText())) {
                return new Checked(dashboard, panel, expr, 0, 0, "",
                        body.path("errorType").asText() + ": " + body.path("error").asText());
            }
            JsonNode result = body.path("data").path("result");
            int series = 0;
            int finite = 0;
            String sample = "";
            for (JsonNode r : result) {
                if (label == null || r.path("metric").hasNonNull(label)) {
                    series++;
                    if (label != null || Double.isFinite(number(r.path("value").path(1).asText("NaN")))) {
                        finite++;
                        sample = sample.isEmpty() ? sampleOf(r, label) : sample;
                    }
                }
            }
            return new Checked(dashboard, panel, expr, series, finite, sample, null);
        } catch (Exception e) {
            return new Checked(dashboard, panel, expr, 0, 0, "", e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    /** The label value of a variable query, or a finite number of a panel query, shortened. */
    private static String sampleOf(JsonNode series, String label) {
        if (label != null) {
            return series.path("metric").path(label).asText();
        }
        return String.format(Locale.ROOT, "%.4g", number(series.path("value").path(1).asText()));
    }

    /** A sample value as Prometheus writes it: a decimal number, NaN, +Inf or -Inf. */
    private static double number(String value) {
        return switch (value) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(value);
        };
    }
}
