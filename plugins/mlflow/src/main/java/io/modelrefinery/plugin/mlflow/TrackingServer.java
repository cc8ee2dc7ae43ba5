package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.RegistryContext;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tracking server as MLflow's clients configure it: {@code MLFLOW_TRACKING_URI}, and credentials
 * from {@code MLFLOW_TRACKING_USERNAME}/{@code MLFLOW_TRACKING_PASSWORD} (HTTP basic, preferred like
 * MLflow's client does) or {@code MLFLOW_TRACKING_TOKEN} (bearer). An Azure Machine Learning workspace's
 * {@code azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/…/workspaces/<name>} URI is its
 * REST base over {@code https} (the same path under {@code https:} names the same workspace); its token is
 * an Entra ID access token. Credentials go only to requests for this server's origin, which Azure Machine
 * Learning's artifact service shares.
 *
 * @param base the REST base URI, without a trailing slash: API paths ({@code /api/2.0/mlflow/...}) follow it
 * @param authorization the {@code Authorization} header value, or {@code null}
 * @param workspace for an Azure Machine Learning tracking URI, its {@code /subscriptions/…/workspaces/<name>}
 *     path (lower case); {@code null} otherwise
 */
record TrackingServer(URI base, String authorization, String workspace) {
    static final String TRACKING_URI = "MLFLOW_TRACKING_URI";
    static final String TOKEN = "MLFLOW_TRACKING_TOKEN";
    static final String USERNAME = "MLFLOW_TRACKING_USERNAME";
    static final String PASSWORD = "MLFLOW_TRACKING_PASSWORD";
    private static final Pattern WORKSPACE = Pattern.compile("(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
            + "Microsoft\\.MachineLearningServices/workspaces/[^/]+)$", Pattern.CASE_INSENSITIVE);

    /**
     * The configured server, or empty when no tracking URI is set.
     *
     * @throws InvalidInputException when the tracking URI is not usable
     */
    static Optional<TrackingServer> from(RegistryContext context) {
        Optional<String> uri = context.setting(TRACKING_URI);
        if (uri.isEmpty()) {
            return Optional.empty();
        }
        String authorization = null;
        Optional<String> user = context.setting(USERNAME);
        Optional<String> password = context.setting(PASSWORD);
        Optional<String> token = context.setting(TOKEN);
        if (user.isPresent() && password.isPresent()) {
            authorization = "Basic " + Base64.getEncoder().encodeToString((user.get() + ":" + password.get())
                    .getBytes(StandardCharsets.UTF_8));
        } else if (token.isPresent()) {
            authorization = "Bearer " + token.get();
        }
        return Optional.of(parse(uri.get(), authorization));
    }

    static TrackingServer parse(String uri, String authorization) {
        URI parsed;
        try {
            parsed = new URI(uri.strip());
        } catch (URISyntaxException e) {
            throw new InvalidInputException(TRACKING_URI + " is not a URI: '" + uri + "'");
        }
        String scheme = parsed.getScheme() == null ? "" : parsed.getScheme().toLowerCase(Locale.ROOT);
        if (scheme.equals("azureml")) {
            scheme = "https";
        } else if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new InvalidInputException(TRACKING_URI + " '" + uri + "' is not an http:, https: or azureml: URI "
                    + "(a local ./mlruns store cannot be read by the refinery)");
        }
        if (parsed.getHost() == null) {
            throw new InvalidInputException(TRACKING_URI + " '" + uri + "' names no host");
        }
        String path = parsed.getRawPath() == null ? "" : parsed.getRawPath().replaceAll("/+$", "");
        URI base = URI.create(scheme + "://" + parsed.getRawAuthority() + path);
        String workspace = workspacePath(path);
        return new TrackingServer(base, authorization, workspace == null ? null : workspace.toLowerCase(Locale.ROOT));
    }

    /**
     * The {@code /subscriptions/…/workspaces/<name>} path an Azure Machine Learning tracking URI ends with
     * (whether given as {@code azureml:} or as its {@code https:} REST base), as written; {@code null} when
     * {@code path} is not a workspace's.
     */
    static String workspacePath(String path) {
        Matcher m = WORKSPACE.matcher(path == null ? "" : path.replaceAll("/+$", ""));
        return m.find() ? m.group(1) : null;
    }

    /** This server's workspace path as written (for the workspace's other services), or {@code null}. */
    String workspacePath() {
        return workspacePath(base.getRawPath());
    }

    /** The origin of the REST base: the host Azure Machine Learning's other workspace services share. */
    URI origin() {
        return URI.create(base.getScheme() + "://" + base.getRawAuthority());
    }

    /** {@code path} under the REST base; {@code query} already encoded, or {@code null}. */
    URI resolve(String path, String query) {
        return URI.create(base + path + (query == null || query.isEmpty() ? "" : "?" + query));
    }

    /** The headers a request to {@code uri} carries: the credentials only for this server's own origin. */
    Map<String, String> headersFor(URI uri, Map<String, String> extra) {
        if (authorization == null || !sameOrigin(uri)) {
            return extra;
        }
        java.util.Map<String, String> headers = new java.util.LinkedHashMap<>(extra);
        headers.put("Authorization", authorization);
        return headers;
    }

    boolean sameOrigin(URI uri) {
        return base.getScheme().equalsIgnoreCase(uri.getScheme()) && base.getHost().equalsIgnoreCase(uri.getHost())
                && port(base) == port(uri);
    }

    private static int port(URI uri) {
        return uri.getPort() >= 0 ? uri.getPort() : uri.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    /** For messages: the server without credentials. */
    @Override
    public String toString() {
        return base.toString();
    }
}
