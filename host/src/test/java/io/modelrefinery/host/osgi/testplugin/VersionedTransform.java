package io.modelrefinery.host.osgi.testplugin;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformException;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.Version;
import org.osgi.service.component.annotations.Component;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A plugin the tests package into bundles of several versions: its descriptor version is its bundle's
 * version, and it stamps that version into the model it returns. With a {@code gate} file it waits
 * until the file exists, so a test can change the plugin while a job runs.
 */
@Component(service = ModelTransform.class)
public final class VersionedTransform implements ModelTransform {
    static final ParamSpec<String> GATE = ParamSpec.string("gate").defaultValue("")
            .doc("A file to wait for before finishing; empty to finish at once.").build();

    static final ParamSpec<String> FAIL_WITH = ParamSpec.string("fail-with").defaultValue("")
            .doc("Fail with this message instead of working; empty to work.").build();

    static final ParamSpec<Integer> SLEEP_MS = ParamSpec.integer("sleep-ms").defaultValue(0)
            .doc("Work this long (checking for cancellation) before finishing.").build();

    private final TransformDescriptor descriptor = TransformDescriptor.builder("test-versioned")
            .version(bundleVersion())
            .kind(TransformKind.OPTIMIZER)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Stamps its version into the model.")
            .param(GATE)
            .param(FAIL_WITH)
            .param(SLEEP_MS)
            .build();

    private static void pause() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw TransformException.fatal("interrupted");
        }
    }

    private static String bundleVersion() {
        Version v = FrameworkUtil.getBundle(VersionedTransform.class).getVersion();
        return v.getMajor() + "." + v.getMinor() + "." + v.getMicro();
    }

    @Override
    public TransformDescriptor descriptor() {
        return descriptor;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        if (!params.get(FAIL_WITH).isEmpty()) {
            throw TransformException.fatal(params.get(FAIL_WITH));
        }
        long workUntil = System.nanoTime() + params.get(SLEEP_MS) * 1_000_000L;
        while (System.nanoTime() < workUntil) {
            context.cancellation().throwIfCancelled();
            pause();
        }
        String gate = params.get(GATE);
        if (!gate.isEmpty()) {
            try {
                Files.createFile(Path.of(gate + ".waiting")); // tells the test the job holds this version now
            } catch (java.io.IOException e) {
                throw TransformException.fatal("cannot mark the gate: " + e.getMessage());
            }
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!Files.exists(Path.of(gate))) {
                if (System.nanoTime() > deadline) {
                    throw TransformException.fatal("gate never opened");
                }
                pause();
            }
        }
        // A class first loaded only now, after the plugin may have been replaced.
        StringStringEntryProto stamp = new LateStamp(descriptor.version()).entry();
        OnnxModel model = input.onnxModel();
        return TransformResult.of(model.withProto(model.proto().toBuilder().addMetadataProps(stamp).build()));
    }
}
