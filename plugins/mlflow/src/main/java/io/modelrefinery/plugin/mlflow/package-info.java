/**
 * The MLflow registry plugin: an {@link io.modelrefinery.api.event.ArtifactResolver} that finds a
 * registered model through an MLflow tracking server's REST API (model versions, aliases, MLflow 3
 * logged models, runs, the artifact proxy) and reads its {@code MLmodel} file to pick the file the
 * refinery can read, and a {@link io.modelrefinery.api.event.RegistryWriter} that logs an optimized
 * model as a logged model and registers it as a new model version. Azure Machine Learning workspaces are
 * reached through their MLflow-compatible tracking URI.
 */
package io.modelrefinery.plugin.mlflow;
