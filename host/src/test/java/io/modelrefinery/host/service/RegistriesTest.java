package io.modelrefinery.host.service;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ArtifactResolver;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegisteredVersion;
import io.modelrefinery.api.event.RegistrationRequest;
import io.modelrefinery.api.event.RegistryWriter;
import io.modelrefinery.api.event.ResolvedArtifact;
import io.modelrefinery.host.artifact.ArtifactFetcher;
import io.modelrefinery.host.artifact.ArtifactPolicy;
import io.modelrefinery.host.artifact.PolicyRegistryHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the host asks resolvers and writers, and what it says when none answers. */
class RegistriesTest {
    @TempDir
    Path work;

    private final List<RegistrationRequest> asked = new ArrayList<>();
    private final RegistryWriter writer = (request, context) -> {
        asked.add(request);
        return "/known".equals(request.source().source())
                ? Optional.of(new RegisteredVersion("test", request.targetName(), "9", "test:9")) : Optional.empty();
    };

    private Registries registries(List<ArtifactResolver> resolvers, Registries.WriteBack writeBack) {
        ArtifactFetcher fetcher = new ArtifactFetcher(new ArtifactPolicy(List.of(), Set.of(), 1, Duration.ofSeconds(1),
                Duration.ofSeconds(1)));
        return new Registries(() -> resolvers, () -> List.of(writer), RegistrySettings.none().with("X", "1"),
                new PolicyRegistryHttp(fetcher), writeBack);
    }

    private static ModelRegistered registration(String uri, String source, Map<String, String> tags) {
        return new ModelRegistered("m", "3", uri, null, null, null, null, null, source, tags);
    }

    private static JobReport report() {
        ArtifactSummary in = new ArtifactSummary("models:/m/3", "0".repeat(64), 2_000, 1_500, 100, 0);
        ArtifactSummary out = new ArtifactSummary("file:///store/x.onnx", "1".repeat(64), 1_000, 900, 100, 0);
        return new JobReport("job-0123456789abcdef", new ModelRef("m", "3"), "fp16", in, out, List.of(), null, null,
                List.of());
    }

    @Test
    void aSchemeNoResolverKnowsIsRefusedWithTheReason() {
        ArtifactResolver none = new ArtifactResolver() {
        };

        InvalidInputException s3 = assertThrows(InvalidInputException.class, () -> registries(List.of(none),
                Registries.WriteBack.off()).resolve(registration("s3://bucket/model.tar.gz", "aws.sagemaker", Map.of()), work));
        ResolvedArtifact direct = registries(List.of(), Registries.WriteBack.off())
                .resolve(registration("https://models.example.com/m.onnx", null, Map.of()), work);

        assertEquals("URI 's3://bucket/model.tar.gz' is not file:, http: or https:, and s3: URIs need an artifact "
                + "resolver plugin that knows them; none of the installed ones does", s3.getMessage());
        assertEquals(URI.create("https://models.example.com/m.onnx"), direct.uri());
    }

    @Test
    void resolversSeeTheOperatorsSettingsAndTheJobsFolder() {
        ArtifactResolver reading = new ArtifactResolver() {
            @Override
            public Optional<ResolvedArtifact> resolve(ModelRegistered registered,
                                                      io.modelrefinery.api.event.RegistryContext context) {
                return Optional.of(ResolvedArtifact.downloaded(context.setting("X").orElseThrow(),
                        context.workDirectory().resolve("m.onnx"), "onnx"));
            }
        };

        ResolvedArtifact found = registries(List.of(reading), Registries.WriteBack.off())
                .resolve(registration("models:/m/3", "mlflow", Map.of()), work);

        assertEquals("1", found.location());
        assertEquals(work.resolve("m.onnx"), found.file());
    }

    @Test
    void writeBackFollowsTheDefaultUnlessTheEventsTagSaysOtherwise() {
        Registries on = registries(List.of(), new Registries.WriteBack(true, "optimized"));
        Registries off = registries(List.of(), Registries.WriteBack.off());

        JobReport byDefault = on.register(registration(null, "/known", Map.of()), report(), work, work);
        JobReport optedOut = on.register(registration(null, "/known", Map.of("refinery.register", "false")), report(),
                work, work);
        JobReport optedIn = off.register(registration(null, "/known", Map.of("refinery.register", "true",
                "refinery.register-as", "m-small", "refinery.register-alias", "fast")), report(), work, work);
        JobReport unknown = on.register(registration(null, "/elsewhere", Map.of()), report(), work, work);
        InvalidInputException demanded = assertThrows(InvalidInputException.class, () -> off.register(
                registration(null, "/elsewhere", Map.of("refinery.register", "true")), report(), work, work));

        assertEquals(new RegisteredVersion("test", "m", "9", "test:9"), byDefault.registered());
        assertNull(optedOut.registered());
        assertEquals("m-small", optedIn.registered().name());
        assertNull(unknown.registered());
        assertEquals(List.of("not registered back: no registry writer knows source '/elsewhere'"), unknown.notes());
        assertEquals("the event asks for its result to be registered (refinery.register=true), but no registry writer "
                + "knows source '/elsewhere'", demanded.getMessage());
        RegistrationRequest first = asked.get(0);
        assertEquals("optimized", first.alias());
        assertEquals("fast", asked.get(1).alias());
        assertEquals(Map.of("refinery.job-id", "job-0123456789abcdef", "refinery.source-model", "m",
                "refinery.source-version", "3", "refinery.pipeline", "fp16", "refinery.bytes-before", "2000",
                "refinery.bytes-after", "1000", "refinery.zipped-bytes-before", "1500", "refinery.zipped-bytes-after", "900"),
                first.tags());
        assertTrue(new String(first.reportJson(), java.nio.charset.StandardCharsets.UTF_8).contains("\"jobId\" : \"job-0123456789abcdef\""));
    }
}
