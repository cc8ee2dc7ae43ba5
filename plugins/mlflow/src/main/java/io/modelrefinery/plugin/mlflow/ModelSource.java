package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.InvalidInputException;

import java.net.URI;
import java.util.Locale;

/**
 * Which MLflow object a registration names, parsed as MLflow's client parses model URIs:
 * {@code models:/<name>/<version>}, {@code models:/<name>/latest}, {@code models:/<name>/<stage>},
 * {@code models:/<name>@<alias>}, {@code models:/<logged model id>} (MLflow 3, {@code m-…}),
 * {@code runs:/<run id>/<path>}, {@code mlflow-artifacts:/<path>}, or a registry's own name and version.
 */
sealed interface ModelSource {
    record Version(String name, String version) implements ModelSource {
    }

    record Latest(String name, String stage) implements ModelSource {
    }

    record Alias(String name, String alias) implements ModelSource {
    }

    record LoggedModel(String modelId) implements ModelSource {
    }

    record Run(String runId, String path) implements ModelSource {
    }

    record Artifacts(String uri) implements ModelSource {
    }

    /** The schemes that are MLflow's, and Azure Machine Learning's artifact locations that its MLflow endpoint gives. */
    static boolean isMlflowUri(URI uri) {
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        return scheme.equals("models") || scheme.equals("runs") || scheme.equals("mlflow-artifacts")
                || scheme.equals("azureml");
    }

    static ModelSource parse(String uri) {
        URI parsed = URI.create(uri);
        String scheme = parsed.getScheme().toLowerCase(Locale.ROOT);
        String path = parsed.getPath() == null ? parsed.getSchemeSpecificPart() : parsed.getPath();
        switch (scheme) {
            case "models": {
                String[] parts = path.replaceFirst("^/", "").split("/", -1);
                if (parts.length == 2 && !parts[0].isBlank() && !parts[1].isBlank()) {
                    if (parts[1].chars().allMatch(Character::isDigit)) {
                        return new Version(parts[0], parts[1]);
                    }
                    return parts[1].equalsIgnoreCase("latest") ? new Latest(parts[0], null) : new Latest(parts[0], parts[1]);
                }
                if (parts.length == 1 && !parts[0].isBlank()) {
                    int at = parts[0].lastIndexOf('@');
                    if (at > 0 && at < parts[0].length() - 1) {
                        return new Alias(parts[0].substring(0, at), parts[0].substring(at + 1));
                    }
                    if (at < 0) {
                        return new LoggedModel(parts[0]);
                    }
                }
                throw new InvalidInputException("'" + uri + "' is not an MLflow models URI (models:/<name>/<version>, "
                        + "models:/<name>@<alias>, models:/<name>/latest or models:/<model id>)");
            }
            case "runs": {
                String rest = path.replaceFirst("^/", "");
                int slash = rest.indexOf('/');
                String run = slash < 0 ? rest : rest.substring(0, slash);
                String artifactPath = slash < 0 ? "" : rest.substring(slash + 1).replaceAll("/+$", "");
                if (run.isBlank()) {
                    throw new InvalidInputException("'" + uri + "' is not an MLflow runs URI (runs:/<run id>/<path>)");
                }
                return new Run(run, artifactPath);
            }
            default:
                return new Artifacts(uri);
        }
    }
}
