package io.modelrefinery.api.event;

/** CloudEvents {@code type} values of the events the refinery reads and writes. */
public final class EventTypes {
    /** A model version was registered and should be optimized; data: {@link ModelRegistered}. */
    public static final String MODEL_REGISTERED = "io.modelrefinery.model.registered";
    /** A model was optimized; data: {@link JobReport}. */
    public static final String MODEL_OPTIMIZED = "io.modelrefinery.model.optimized";
    /** A job failed; data: {@link ModelFailed}. */
    public static final String MODEL_FAILED = "io.modelrefinery.model.failed";
    /** Azure Machine Learning's event for a registered model (carries no artifact URI). */
    public static final String AZURE_ML_MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered";
    /** MLflow's webhook event for a new model version, when forwarded as a CloudEvent. */
    public static final String MLFLOW_MODEL_VERSION_CREATED = "org.mlflow.model_version.created";
    /**
     * Amazon SageMaker's EventBridge event for a model package version ({@code detail-type}; the
     * envelope's {@code detail} is the data).
     */
    public static final String SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change";

    private EventTypes() {
    }
}
