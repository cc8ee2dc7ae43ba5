package io.modelrefinery.host.auto;

import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepSpec;
import io.modelrefinery.host.pipeline.TransformCatalog;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The recipes {@code auto} tries: those the installed transforms declare on their descriptors
 * ({@link TransformDescriptor#recipes()}), so that the host names no transform and a third-party one
 * takes part by declaring its own.
 *
 * <p>They are tried cheapest first: recipes that need no data, then those needing calibration or
 * evaluation samples, then those that train; within each, optimizers before compressors, single steps
 * before chains, then by the first transform's id and in the order it declares them.
 */
public final class AutoRecipes {
    private AutoRecipes() {
    }

    /** Every installed transform's recipes, cheapest first. */
    public static List<String> of(TransformCatalog catalog) {
        List<Ranked> ranked = new ArrayList<>();
        for (TransformDescriptor descriptor : catalog.descriptors()) {
            List<String> recipes = descriptor.recipes();
            for (int i = 0; i < recipes.size(); i++) {
                ranked.add(rank(recipes.get(i), descriptor, i, catalog));
            }
        }
        return ranked.stream().sorted(Comparator.comparingInt(Ranked::data).thenComparingInt(Ranked::kind)
                        .thenComparingInt(Ranked::steps).thenComparing(Ranked::firstId).thenComparingInt(Ranked::declared))
                .map(Ranked::recipe).toList();
    }

    private record Ranked(String recipe, int data, int kind, int steps, String firstId, int declared) {
    }

    private static Ranked rank(String recipe, TransformDescriptor first, int declared, TransformCatalog catalog) {
        PipelineSpec spec = PipelineSpec.parse(recipe);
        int data = 0;
        for (StepSpec step : spec.steps()) {
            data = Math.max(data, dataCost(step, catalog));
        }
        return new Ranked(recipe, data, first.kind() == TransformKind.OPTIMIZER ? 0 : 1, spec.steps().size(),
                first.id(), declared);
    }

    /** 0 for a step that needs no data, 1 for samples to calibrate or score on, 2 to train; 1 when unknown. */
    private static int dataCost(StepSpec step, TransformCatalog catalog) {
        Optional<TransformDescriptor> descriptor = catalog.descriptors().stream()
                .filter(d -> d.id().equals(step.transformId())).findFirst();
        if (descriptor.isEmpty()) {
            return 1; // not installed: listed as skipped wherever it sorts
        }
        Set<DataRole> roles;
        try {
            roles = descriptor.get().requiredData(Params.parse(descriptor.get(), step.params()));
        } catch (InvalidParamException e) {
            return 1; // does not fit the installed version: the search says so when it tries it
        }
        return roles.contains(DataRole.TRAINING) ? 2 : roles.isEmpty() ? 0 : 1;
    }
}
