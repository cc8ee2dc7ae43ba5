package io.modelrefinery.host.service;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ArtifactResolver;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegisteredVersion;
import io.modelrefinery.api.event.RegistrationRequest;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryHttp;
import io.modelrefinery.api.event.RegistryWriter;
import io.modelrefinery.api.event.ResolvedArtifact;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.event.RegistryAdapters;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The host's side of the registry plugins: finds a registration's model through the
 * {@link ArtifactResolver}s and registers optimized models back through the {@link RegistryWriter}s,
 * lending each a {@link RegistryContext} with the operator's {@link RegistrySettings} and the
 * policy-bound {@link RegistryHttp}. Knows no registry itself; which plugin answers is theirs to say.
 */
public final class Registries {
    private static final Set<String> FETCHABLE = Set.of("file", "http", "https");

    /**
     * When results go back to the registry.
     *
     * @param byDefault register every result whose source a writer knows ({@code serve --mlflow-register});
     *     an event's {@value RegistryAdapters#REGISTER_TAG} tag overrides it either way
     * @param alias an alias to point at each registered version, or {@code null}
     */
    public record WriteBack(boolean byDefault, String alias) {
        public static WriteBack off() {
            return new WriteBack(false, null);
        }
    }

    private final Supplier<List<ArtifactResolver>> resolvers;
    private final Supplier<List<RegistryWriter>> writers;
    private final RegistrySettings settings;
    private final RegistryHttp http;
    private final WriteBack writeBack;

    public Registries(Supplier<List<ArtifactResolver>> resolvers, Supplier<List<RegistryWriter>> writers,
                      RegistrySettings settings, RegistryHttp http, WriteBack writeBack) {
        this.resolvers = Objects.requireNonNull(resolvers, "resolvers");
        this.writers = Objects.requireNonNull(writers, "writers");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.http = Objects.requireNonNull(http, "http");
        this.writeBack = Objects.requireNonNull(writeBack, "writeBack");
    }

    /** A context for one job's registry calls, downloads going into {@code workDirectory}. */
    public RegistryContext context(Path workDirectory) {
        return new JobContext(settings, http, workDirectory);
    }

    private record JobContext(RegistrySettings settings, RegistryHttp http, Path workDirectory)
            implements RegistryContext {
        @Override
        public Optional<String> setting(String name) {
            return settings.get(name);
        }
    }

    /**
     * Where the registered model is: the event's own {@code file:} or {@code http(s):} URI, else what the
     * first resolver that knows the registration answers.
     *
     * @throws InvalidInputException when no resolver knows it, or the resolver refuses it
     * @throws io.modelrefinery.api.event.RegistryException when the registry could not be asked
     */
    public ResolvedArtifact resolve(ModelRegistered registered, Path workDirectory) {
        String scheme = null;
        if (registered.uri() != null) {
            URI uri = URI.create(registered.uri());
            scheme = uri.getScheme().toLowerCase(Locale.ROOT);
            if (FETCHABLE.contains(scheme)) {
                return ResolvedArtifact.fetch(uri);
            }
        }
        RegistryContext context = context(workDirectory);
        for (ArtifactResolver resolver : resolvers.get()) {
            Optional<ResolvedArtifact> found = resolver.resolve(registered, context);
            if (found.isPresent()) {
                return found.get();
            }
        }
        if (scheme != null) {
            throw new InvalidInputException("URI '" + registered.uri() + "' is not file:, http: or https:, and " + scheme
                    + ": URIs need an artifact resolver plugin that knows them; none of the installed ones does");
        }
        throw new InvalidInputException("the event has no artifact URI and no artifact resolver knows "
                + (registered.source() == null ? "its registry" : "source '" + registered.source() + "'"));
    }

    /**
     * Registers an optimized model back when asked to ({@link WriteBack}, or the event's
     * {@value RegistryAdapters#REGISTER_TAG} tag), through the first writer that knows the source.
     *
     * @param modelFile the stored optimized model
     * @return the report with {@code registered} set, or with a note saying why it was not registered when
     *     registration was only the default; the report unchanged when not asked
     * @throws InvalidInputException when the event demands registration and no writer knows its registry,
     *     or the registry refuses it
     * @throws io.modelrefinery.api.event.RegistryException when the registry failed
     */
    public JobReport register(ModelRegistered registered, JobReport report, Path modelFile, Path workDirectory) {
        String tag = registered.tags().get(RegistryAdapters.REGISTER_TAG);
        boolean demanded = tag != null && tag.strip().equalsIgnoreCase("true");
        if (!demanded && (tag != null || !writeBack.byDefault())) {
            return report;
        }
        String target = registered.tags().getOrDefault(RegistryAdapters.REGISTER_AS_TAG, registered.name());
        String alias = registered.tags().getOrDefault(RegistryAdapters.REGISTER_ALIAS_TAG, writeBack.alias());
        RegistrationRequest request = new RegistrationRequest(report.jobId(), registered, modelFile, report,
                (EventJson.pretty(report) + "\n").getBytes(StandardCharsets.UTF_8), target, alias,
                resultTags(registered, report));
        RegistryContext context = context(workDirectory);
        for (RegistryWriter writer : writers.get()) {
            Optional<RegisteredVersion> version = writer.register(request, context);
            if (version.isPresent()) {
                return report.withRegistered(version.get());
            }
        }
        String why = "no registry writer knows " + (registered.source() == null ? "the event's registry"
                : "source '" + registered.source() + "'");
        if (demanded) {
            throw new InvalidInputException("the event asks for its result to be registered ("
                    + RegistryAdapters.REGISTER_TAG + "=true), but " + why);
        }
        List<String> notes = new ArrayList<>(report.notes());
        notes.add("not registered back: " + why);
        return new JobReport(report.jobId(), report.model(), report.pipeline(), report.input(), report.output(),
                report.steps(), report.evaluation(), report.candidates(), notes, null, report.search());
    }

    /**
     * The tags every registered result carries: the job, the source version, the pipeline and the
     * sizes and accuracy figures of the report.
     */
    static Map<String, String> resultTags(ModelRegistered registered, JobReport report) {
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put(RegistryAdapters.JOB_ID_TAG, report.jobId());
        tags.put("refinery.source-model", registered.name());
        tags.put(RegistryAdapters.SOURCE_VERSION_TAG, registered.version());
        tags.put(RegistryAdapters.PIPELINE_TAG, report.pipeline());
        tags.put("refinery.bytes-before", Long.toString(report.input().bytes()));
        tags.put("refinery.bytes-after", Long.toString(report.output().bytes()));
        tags.put("refinery.zipped-bytes-before", Long.toString(report.input().gzipBytes()));
        tags.put("refinery.zipped-bytes-after", Long.toString(report.output().gzipBytes()));
        Evaluation e = report.evaluation();
        if (e != null) {
            put(tags, "refinery.accuracy-before", e.accuracyBefore());
            put(tags, "refinery.accuracy-after", e.accuracyAfter());
            put(tags, "refinery.sqnr-db", e.sqnrDb());
            put(tags, "refinery.latency-ratio", e.latencyRatio());
        }
        return tags;
    }

    private static void put(Map<String, String> tags, String key, Double value) {
        if (value != null) {
            tags.put(key, String.format(Locale.ROOT, "%.6g", value));
        }
    }
}
