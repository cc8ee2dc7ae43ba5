package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.RegistryException;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A folder of artifacts as MLflow names it, and the HTTP URIs of its files. {@code mlflow-artifacts:}
 * URIs are served by the tracking server's artifact proxy, as MLflow's client resolves them:
 * {@code mlflow-artifacts:/<path>} (or {@code mlflow-artifacts://host:port/<path>}) is
 * {@code <tracking scheme>://<host of the URI, else of the tracking URI><tracking path>/api/2.0/mlflow-artifacts/artifacts/<path>},
 * which also lists folders ({@code ?path=}). {@code http(s):} folders are read file by file. Azure
 * Machine Learning's {@code azureml:} locations are {@link AzureMlArtifacts}. Other stores ({@code s3:},
 * {@code gs:}, {@code wasbs:}, {@code file:}, ...) are the tracking server's own business: the refinery does
 * not reach them directly.
 *
 * @param proxyPath the path inside the artifact proxy, for {@code mlflow-artifacts:}; {@code null} for http(s)
 * @param root the folder's HTTP URI, ending without a slash
 */
record ArtifactLocation(String uri, String proxyPath, URI root, TrackingServer server) implements ModelArtifacts {
    static final String PROXY = "/api/2.0/mlflow-artifacts/artifacts";

    static ArtifactLocation of(String artifactUri, TrackingServer server) {
        URI parsed;
        try {
            parsed = new URI(artifactUri);
        } catch (URISyntaxException e) {
            throw new InvalidInputException("MLflow gave an artifact location that is not a URI: '" + artifactUri + "'");
        }
        String scheme = parsed.getScheme() == null ? "" : parsed.getScheme().toLowerCase(Locale.ROOT);
        switch (scheme) {
            case "mlflow-artifacts": {
                String path = strip(parsed.getPath() == null ? "" : parsed.getPath());
                String authority = parsed.getRawAuthority() != null && !parsed.getRawAuthority().isEmpty()
                        ? parsed.getRawAuthority() : server.base().getRawAuthority();
                String trackingPath = server.base().getRawPath() == null ? "" : server.base().getRawPath();
                URI root = URI.create(server.base().getScheme() + "://" + authority + trackingPath + PROXY
                        + (path.isEmpty() ? "" : "/" + MlflowClient.encodePath(path)));
                return new ArtifactLocation(artifactUri, path, root, server);
            }
            case "http":
            case "https":
                return new ArtifactLocation(artifactUri, null, URI.create(artifactUri.replaceAll("/+$", "")), server);
            case "azureml":
                // reading them is AzureMlArtifacts' job (ModelArtifacts.of); what is left here is writing
                throw new InvalidInputException("MLflow keeps these artifacts in Azure Machine Learning (" + artifactUri
                        + "); writing a model back there is not supported (turn --mlflow-register off for Azure ML)");
            default:
                throw new InvalidInputException("MLflow keeps these artifacts at " + artifactUri + ", which the refinery "
                        + "reaches only through the tracking server's artifact proxy (mlflow-artifacts:/ locations: run "
                        + "`mlflow server` with artifact serving, the default since MLflow 2) or over http(s)");
        }
    }

    /** The same location, {@code relative} deeper. */
    @Override
    public ArtifactLocation child(String relative) {
        String rel = strip(relative);
        if (rel.isEmpty()) {
            return this;
        }
        String childUri = uri.replaceAll("/+$", "") + "/" + rel;
        return new ArtifactLocation(childUri, proxyPath == null ? null : (proxyPath.isEmpty() ? rel : proxyPath + "/" + rel),
                URI.create(root + "/" + MlflowClient.encodePath(rel)), server);
    }

    /** The HTTP URI of the file at {@code relative}. */
    URI file(String relative) {
        return URI.create(root + "/" + MlflowClient.encodePath(strip(relative)));
    }

    /** The proxy's listing of the folder at {@code relative}, or empty when this is not a proxied location. */
    Optional<URI> listing(String relative) {
        if (proxyPath == null) {
            return Optional.empty();
        }
        String rel = strip(relative);
        String path = proxyPath.isEmpty() ? rel : rel.isEmpty() ? proxyPath : proxyPath + "/" + rel;
        URI base = URI.create(root.getScheme() + "://" + root.getRawAuthority()
                + (server.base().getRawPath() == null ? "" : server.base().getRawPath()) + PROXY);
        return Optional.of(URI.create(base + "?path=" + MlflowClient.encode(path)));
    }

    @Override
    public byte[] read(MlflowClient client, String relative) {
        return client.read(file(relative), relative.substring(relative.lastIndexOf('/') + 1));
    }

    @Override
    public Path download(MlflowClient client, String relative) {
        return client.download(strip(relative).isEmpty() ? root : file(relative));
    }

    /** The proxy's listing of {@code folder}; none for a plain http(s) folder, which cannot be listed. */
    @Override
    public List<String> files(MlflowClient client, String folder) {
        Optional<URI> listing = listing(folder);
        List<String> names = new ArrayList<>();
        if (listing.isEmpty()) {
            return names;
        }
        JsonNode answer;
        try {
            answer = MlflowClient.JSON.readTree(client.read(listing.get(), "mlflow-artifacts/artifacts"));
        } catch (IOException e) {
            throw new RegistryException("the MLflow artifact listing of " + uri + " is not JSON", false, e);
        }
        for (JsonNode f : answer.path("files")) {
            if (!f.path("is_dir").asBoolean(false)) {
                String p = f.path("path").asText("");
                names.add(p.substring(p.lastIndexOf('/') + 1));
            }
        }
        return names;
    }

    private static String strip(String path) {
        return ModelArtifacts.strip(path);
    }
}
