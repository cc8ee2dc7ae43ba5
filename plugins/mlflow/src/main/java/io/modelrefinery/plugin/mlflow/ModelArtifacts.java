package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.InvalidInputException;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A folder of a model's artifacts, wherever MLflow says it is, read the way MLflow's clients read that
 * kind of location: through the tracking server's artifact proxy ({@code mlflow-artifacts:}), over plain
 * {@code http(s):}, or through an Azure Machine Learning workspace's artifact service ({@code azureml:}).
 */
interface ModelArtifacts {
    /** The location as MLflow gave it, for messages. */
    String uri();

    /** The same kind of location, {@code relative} deeper. */
    ModelArtifacts child(String relative);

    /**
     * A small file (an {@code MLmodel}) read in memory.
     *
     * @throws MlflowError with status 404 when there is no such file
     */
    byte[] read(MlflowClient client, String relative);

    /** Downloads the file at {@code relative} (empty: the location itself) into the job's folder. */
    Path download(MlflowClient client, String relative);

    /** The names of the files (not folders) directly in {@code folder}; none where the store cannot list. */
    List<String> files(MlflowClient client, String folder);

    /** The location {@code artifactUri} names, for the tracking server {@code server}. */
    static ModelArtifacts of(String artifactUri, TrackingServer server) {
        URI parsed;
        try {
            parsed = new URI(artifactUri);
        } catch (URISyntaxException e) {
            throw new InvalidInputException("MLflow gave an artifact location that is not a URI: '" + artifactUri + "'");
        }
        String scheme = parsed.getScheme() == null ? "" : parsed.getScheme().toLowerCase(Locale.ROOT);
        return scheme.equals("azureml") ? AzureMlArtifacts.of(parsed, server) : ArtifactLocation.of(artifactUri, server);
    }

    /** {@code relative} without leading and trailing slashes. */
    static String strip(String relative) {
        return relative.replaceAll("^/+", "").replaceAll("/+$", "");
    }

    /** {@code a/b}, leaving out an empty part. */
    static String join(String a, String b) {
        return a.isEmpty() ? b : b.isEmpty() ? a : a + "/" + b;
    }
}
