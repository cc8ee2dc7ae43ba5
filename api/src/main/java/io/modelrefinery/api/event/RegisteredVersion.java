package io.modelrefinery.api.event;

/**
 * The model version a {@link RegistryWriter} registered an optimized model as, as the report's
 * {@code registered} field shows it.
 *
 * @param registry which registry, for example {@code mlflow}
 * @param name the registered model's name
 * @param version the new version
 * @param uri how the registry's clients address it, for example {@code models:/seed-cnn/4}
 */
public record RegisteredVersion(String registry, String name, String version, String uri) {
}
