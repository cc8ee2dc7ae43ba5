package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.RegistryResponse;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Artifacts in an Azure Machine Learning workspace, named by an {@code azureml:} URI, read as the
 * {@code azureml-mlflow} plugin of MLflow's client reads them: the workspace's artifact service (on the
 * tracking URI's host, with the tracking token) answers each file's content information, whose
 * {@code contentUri} is a short-lived shared-access-signature (SAS) link to Azure Blob Storage; that link
 * is fetched without credentials, under the same host policy as everything else. The calls, from Azure's
 * published REST definitions ({@code azure-rest-api-specs}, machinelearningservices data-plane,
 * {@code artifact.json} and the run history API):
 * <ul>
 *   <li>a run's artifacts,
 *   {@code azureml://<host>/mlflow/v…/subscriptions/…/workspaces/<ws>/experiments/<exp>/runs/<run>/artifacts/<path>} (or {@code azureml://experiments/<exp>/runs/<run>/artifacts/<path>} in this workspace):
 *   {@code GET /history/v1.0/<workspace>/experiments/<exp>/runs/<run>/artifacts/contentinfo?path=<path>} and
 *   the listing {@code GET …/runs/<run>/artifacts?continuationToken=…};</li>
 *   <li>artifacts by origin and container, {@code azureml://artifacts/<origin>/<container>/<path>} (what
 *   {@code azureml-mlflow} registers a local model folder as, origin {@code LocalUpload}):
 *   {@code GET /artifact/v2.0/<workspace>/artifacts/<origin>/<container>/contentinfo?path=<path>} and the
 *   listing {@code GET /artifact/v2.0/<workspace>/artifacts/<origin>/<container>?continuationToken=…}.</li>
 * </ul>
 * Content information is {@code {"contentUri", "origin", "container", "path"}}; a listing is
 * {@code {"value": [{"path", …}], "continuationToken", "nextLink"}} with paths relative to the container;
 * errors are {@code {"error": {"code", "message"}}}. Registry assets ({@code …/registries/…}), datastore
 * paths and job outputs are not MLflow artifacts of a workspace and are refused by name.
 *
 * @param uri the location as given, for messages
 * @param api the container's service path on the tracking origin: {@code /history/v1.0/…/runs/<run>/artifacts}
 *     or {@code /artifact/v2.0/…/artifacts/<origin>/<container>}
 * @param path the location inside the container, without slashes at either end; empty for its root
 */
record AzureMlArtifacts(String uri, String api, String path, TrackingServer server) implements ModelArtifacts {
    /** A run's artifacts with the workspace spelled out: what the workspace's MLflow endpoint answers. */
    private static final Pattern RUN = Pattern.compile("^.*?(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
            + "Microsoft\\.MachineLearningServices/workspaces/[^/]+)/experiments/([^/]+)/runs/([^/]+)(?:/artifacts(?:/(.*))?)?$",
            Pattern.CASE_INSENSITIVE);
    /** A run's artifacts in the tracking URI's workspace: {@code azureml://experiments/<exp>/runs/<run>/artifacts/…}. */
    private static final Pattern SHORT_RUN = Pattern.compile("^/([^/]+)/runs/([^/]+)(?:/artifacts(?:/(.*))?)?$");
    /** Listing pages followed at most, so that a service that keeps answering a token cannot hold a job. */
    private static final int MAX_PAGES = 1000;

    static AzureMlArtifacts of(URI parsed, TrackingServer server) {
        String raw = parsed.toString();
        String workspace = server.workspacePath();
        if (workspace == null) {
            throw new InvalidInputException("MLflow keeps these artifacts in Azure Machine Learning (" + raw + "), and "
                    + "MLFLOW_TRACKING_URI is not the tracking URI of an Azure Machine Learning workspace "
                    + "(azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/…/workspaces/<name>)");
        }
        String host = parsed.getRawAuthority() == null ? "" : parsed.getRawAuthority().toLowerCase(Locale.ROOT);
        String path = parsed.getRawPath() == null ? "" : parsed.getRawPath().replaceAll("/+$", "");
        if (path.toLowerCase(Locale.ROOT).contains("/registries/")) {
            throw new InvalidInputException("'" + raw + "' is in an Azure Machine Learning registry; the refinery reads "
                    + "the models of a workspace only (register the model in the workspace MLFLOW_TRACKING_URI names)");
        }
        Matcher run = RUN.matcher(path);
        if (run.matches()) {
            if (!run.group(1).equalsIgnoreCase(workspace)) {
                throw new InvalidInputException("'" + raw + "' is in another Azure Machine Learning workspace than "
                        + "the one MLFLOW_TRACKING_URI names (" + workspace + "); Azure Machine Learning has no cross-workspace access");
            }
            return runArtifacts(raw, workspace, run.group(2), run.group(3), run.group(4), server);
        }
        Matcher shortRun = SHORT_RUN.matcher(path);
        if (host.equals("experiments") && shortRun.matches()) {
            return runArtifacts(raw, workspace, shortRun.group(1), shortRun.group(2), shortRun.group(3), server);
        }
        String[] parts = path.replaceFirst("^/", "").split("/", 3);
        if (host.equals("artifacts") && parts.length >= 2 && !parts[0].isEmpty() && !parts[1].isEmpty()) {
            return new AzureMlArtifacts(raw, "/artifact/v2.0" + workspace + "/artifacts/" + segment(parts[0], raw) + "/"
                    + segment(parts[1], raw), parts.length == 3 ? decode(parts[2], raw) : "", server);
        }
        throw new InvalidInputException("'" + raw + "' is not an Azure Machine Learning artifact location the refinery "
                + "reads (a run's azureml://…/experiments/<experiment>/runs/<run>/artifacts/<path>, or "
                + "azureml://artifacts/<origin>/<container>/<path>)");
    }

    /**
     * The experiment segment goes where {@code azureml-mlflow} puts it, the run history API's
     * {@code experiments/{experimentName}} slot, whether the URI carries the experiment's id (the long form
     * does) or its name (the short form can): the service takes either there.
     */
    private static AzureMlArtifacts runArtifacts(String raw, String workspace, String experiment, String run, String path,
                                                 TrackingServer server) {
        return new AzureMlArtifacts(raw, "/history/v1.0" + workspace + "/experiments/" + segment(experiment, raw) + "/runs/"
                + segment(run, raw) + "/artifacts", path == null ? "" : decode(path, raw), server);
    }

    /** A path segment as the service's URL takes it: already percent-encoded in the URI, and never a dot segment. */
    private static String segment(String rawSegment, String uri) {
        String decoded = decode(rawSegment, uri);
        if (decoded.isEmpty() || decoded.equals(".") || decoded.equals("..")) {
            throw new InvalidInputException("'" + uri + "' names an empty or relative ('" + decoded + "') part");
        }
        return MlflowClient.encode(decoded);
    }

    /** A raw URI path (or segment) percent-decoded, without slashes at either end. */
    private static String decode(String raw, String uri) {
        try {
            return ModelArtifacts.strip(URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("'" + uri + "' is not a well-formed Azure Machine Learning artifact URI");
        }
    }

    @Override
    public AzureMlArtifacts child(String relative) {
        String rel = ModelArtifacts.strip(relative);
        return rel.isEmpty() ? this : new AzureMlArtifacts(uri.replaceAll("/+$", "") + "/" + rel, api,
                ModelArtifacts.join(path, rel), server);
    }

    @Override
    public byte[] read(MlflowClient client, String relative) {
        URI link = contentUri(client, relative);
        RegistryResponse response;
        try {
            response = client.getUnauthenticated(link);
        } catch (InvalidInputException e) {
            throw fromStorage(e, link, relative);
        }
        if (!response.ok()) {
            throw storageError(response.status(), relative);
        }
        return response.body();
    }

    @Override
    public Path download(MlflowClient client, String relative) {
        URI link = contentUri(client, relative);
        try {
            return client.downloadUnauthenticated(link);
        } catch (InvalidInputException e) {
            // The host reports a 4xx download as a refusal in its own words ("answered HTTP 403"); a 403 here
            // is storage refusing an expired signature, which the retry's fresh link cures.
            if (e.getMessage() != null && e.getMessage().contains("answered HTTP 403")) {
                throw storageError(403, relative);
            }
            throw fromStorage(e, link, relative);
        }
    }

    /**
     * A refusal of the storage link (by the host policy, most often: the storage account is a host of its
     * own), saying where the link came from so that the operator knows which host to allow.
     */
    private InvalidInputException fromStorage(InvalidInputException e, URI link, String relative) {
        // no apostrophes here: the host's message quotes names, and InvalidInputException pairs quotes
        return new InvalidInputException("reading " + ModelArtifacts.join(path, ModelArtifacts.strip(relative))
                + " from the storage account of the workspace, " + link.getHost() + ": " + e.getMessage());
    }

    /** The names of the files directly in {@code folder}, from the container's listing (all pages). */
    @Override
    public List<String> files(MlflowClient client, String folder) {
        String prefix = ModelArtifacts.join(path, ModelArtifacts.strip(folder));
        prefix = prefix.isEmpty() ? "" : prefix + "/";
        Set<String> names = new LinkedHashSet<>();
        String token = null;
        for (int page = 0; page < MAX_PAGES; page++) {
            URI listing = URI.create(server.origin() + api + (token == null ? "" : "?continuationToken="
                    + MlflowClient.encode(token)));
            JsonNode answer = client.getJson(listing, "artifact listing");
            for (JsonNode artifact : answer.path("value")) {
                String p = artifact.path("path").asText("");
                if (p.startsWith(prefix) && p.length() > prefix.length() && p.indexOf('/', prefix.length()) < 0) {
                    names.add(p.substring(prefix.length()));
                }
            }
            token = answer.path("continuationToken").asText(null);
            if (token == null || token.isEmpty()) {
                return new ArrayList<>(names);
            }
        }
        throw new RegistryException("the Azure Machine Learning artifact listing of " + uri + " did not end after "
                + MAX_PAGES + " pages", false);
    }

    /**
     * The SAS link of the file at {@code relative}. A missing file is the service's 404, which the
     * resolver reads as "not there" (an {@link MlflowError} with status 404).
     */
    private URI contentUri(MlflowClient client, String relative) {
        String file = ModelArtifacts.join(path, ModelArtifacts.strip(relative));
        URI info = URI.create(server.origin() + api + "/contentinfo?path=" + MlflowClient.encode(file));
        String link = client.getJson(info, "artifact contentinfo").path("contentUri").asText("");
        URI parsed;
        try {
            parsed = new URI(link);
        } catch (URISyntaxException e) {
            parsed = null;
        }
        String scheme = parsed == null || parsed.getScheme() == null ? "" : parsed.getScheme().toLowerCase(Locale.ROOT);
        if (parsed == null || parsed.getHost() == null || !(scheme.equals("https") || scheme.equals("http"))) {
            throw new RegistryException("Azure Machine Learning gave no usable content link for " + file + " in " + uri, false);
        }
        return parsed;
    }

    /**
     * A storage refusal of a SAS link. A 403 is an expired or revoked signature: asking the service again
     * gives a fresh one, so it is retriable; a 404 is a file the service lists but storage lacks.
     */
    private RuntimeException storageError(int status, String relative) {
        String what = "Azure Blob Storage answered " + status + " for " + ModelArtifacts.join(path, relative) + " of " + uri;
        if (status == 403 || status == 429 || status >= 500) {
            return new RegistryException(what, true);
        }
        return new MlflowError(what, status, null);
    }
}
