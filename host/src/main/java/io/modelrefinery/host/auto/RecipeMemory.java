package io.modelrefinery.host.auto;

import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.event.MalformedEventException;
import io.modelrefinery.host.pipeline.JobStatistics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Recipe memory: for each registered model (by name), the recipe that won its last {@code auto} search, the
 * version it won for, the inputs it had, and the statistics the search computed (calibration ranges). A new
 * version of the model starts from them: the search tries that recipe first, over the remembered statistics
 * where its own samples and settings match, and stops there when it passes the gates. Nothing is recalled
 * when the inputs' names, types or shapes changed: the statistics, and perhaps the recipe, belong to another
 * model. One JSON file per model under the folder ({@code serve --data-dir}'s {@code recipes/}, or
 * {@code optimize --state}'s), written atomically; an unreadable one is ignored.
 */
public final class RecipeMemory {
    private static final Logger LOG = LoggerFactory.getLogger(RecipeMemory.class);

    private final Path folder;

    public RecipeMemory(Path folder) {
        this.folder = folder;
    }

    /**
     * What was remembered of a model.
     *
     * @param version the version the recipe won for
     * @param pipeline the winning recipe
     * @param statistics the statistics that version's search computed
     */
    public record Remembered(String version, String pipeline, Map<JobStatistics.Entry, byte[]> statistics) {
    }

    /** The file's content: plain values, for JSON. */
    record Stored(String model, String version, List<Input> inputs, String pipeline, List<Statistic> statistics) {
    }

    record Input(String name, String type, List<Long> shape) {
        static Input of(TensorInfo info) {
            return new Input(info.name(), info.type().name(), Arrays.stream(info.shape()).boxed().toList());
        }
    }

    record Statistic(String transform, String model, String role, String data, String key, String bytes) {
    }

    /** The last winner of {@code model}, when there is one and the inputs are those it had. */
    public Optional<Remembered> recall(String model, List<TensorInfo> inputs) {
        Stored stored;
        try {
            stored = EventJson.convert(EventJson.parse(Files.readAllBytes(file(model)), "recipe memory"), Stored.class);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | MalformedEventException | IllegalArgumentException e) {
            LOG.warn("recipe memory of {} is unreadable, ignored: {}", model, e.getMessage());
            return Optional.empty();
        }
        if (!model.equals(stored.model()) || stored.inputs() == null
                || !stored.inputs().equals(inputs.stream().map(Input::of).toList())) {
            return Optional.empty();
        }
        Map<JobStatistics.Entry, byte[]> statistics = new LinkedHashMap<>();
        for (Statistic s : stored.statistics() == null ? List.<Statistic>of() : stored.statistics()) {
            statistics.put(new JobStatistics.Entry(s.transform(), s.model(), DataRole.valueOf(s.role()), s.data(), s.key()),
                    Base64.getDecoder().decode(s.bytes()));
        }
        return Optional.of(new Remembered(stored.version(), stored.pipeline(), statistics));
    }

    /** Remembers {@code pipeline} as the winner for {@code version} of {@code model}, replacing what was there. */
    public void remember(String model, String version, List<TensorInfo> inputs, String pipeline,
                         Map<JobStatistics.Entry, byte[]> statistics) throws IOException {
        List<Statistic> kept = new ArrayList<>();
        statistics.forEach((e, bytes) -> kept.add(new Statistic(e.transform(), e.model(), e.role().name(), e.data(),
                e.key(), Base64.getEncoder().encodeToString(bytes))));
        Files.createDirectories(folder);
        AtomicFiles.write(file(model), EventJson.bytes(new Stored(model, version, inputs.stream().map(Input::of).toList(),
                pipeline, kept)));
    }

    /** One file per model name, named by its hash: names hold slashes and other characters files cannot. */
    private Path file(String model) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(model.getBytes(StandardCharsets.UTF_8));
            return folder.resolve(HexFormat.of().formatHex(digest, 0, 16) + ".json");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }
}
