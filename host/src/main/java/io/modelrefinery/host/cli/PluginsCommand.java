package io.modelrefinery.host.cli;

import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.osgi.PluginFramework;
import io.modelrefinery.host.osgi.PluginInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code refinery plugins}: lists installed plugins, their transforms and parameters. */
@Command(name = "plugins", mixinStandardHelpOptions = true,
        description = "Lists installed plugins, their transforms and each transform's parameters.")
final class PluginsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--plugins-dir", paramLabel = "DIR", description = "Plugin jars. Default: plugins/ next to refinery.jar.")
    Path pluginsDir;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path work = Files.createTempDirectory("refinery-plugins-");
        try (PluginFramework plugins = PluginLauncher.start(pluginsDir, work, spec.commandLine().getErr())) {
            List<PluginInfo> all = plugins.registry().plugins();
            if (all.isEmpty()) {
                out.println("no plugins in " + plugins.pluginsDir());
            }
            for (PluginInfo plugin : all) {
                print(out, plugin);
            }
            return ExitCode.OK;
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private static void print(PrintWriter out, PluginInfo plugin) {
        out.println(plugin.file() + "  " + (plugin.symbolicName() == null ? "" : plugin.symbolicName() + " "
                + plugin.bundleVersion() + "  ") + plugin.state().name().toLowerCase(Locale.ROOT)
                + (plugin.problem() == null ? "" : ": " + plugin.problem()));
        for (TransformDescriptor d : plugin.transforms()) {
            out.println("  " + d.id() + " " + d.version() + "  " + d.kind().name().toLowerCase(Locale.ROOT) + ", "
                    + String.join("|", d.inputFormats().stream().map(Object::toString).toList()) + " -> "
                    + d.outputFormat());
            out.println("    " + d.summary());
            if (!d.requiredData().isEmpty()) {
                out.println("    requires " + String.join(", ", d.requiredData().stream()
                        .map(role -> role.label() + " samples (" + JobData.optionFor(role) + ")").toList()));
            }
            for (TransformDescriptor.DataRequirement r : d.conditionalData()) {
                out.println("    requires " + r.role().label() + " samples (" + JobData.optionFor(r.role()) + ") with "
                        + r.condition());
            }
            for (ParamSpec<?> p : d.params()) {
                String dflt = p.required() ? "required" : p.optional() ? "optional" : "default " + p.renderedDefault();
                String valid = p.validValues().isEmpty() ? "" : ", " + p.validValues();
                String formerly = p.deprecatedAliases().isEmpty() ? ""
                        : ", formerly " + String.join(", ", p.deprecatedAliases());
                out.println("    " + p.name() + " (" + p.type().name().toLowerCase(Locale.ROOT) + ", " + dflt + valid
                        + formerly + "): " + p.documentation());
            }
        }
    }
}
