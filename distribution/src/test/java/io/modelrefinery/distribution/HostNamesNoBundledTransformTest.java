package io.modelrefinery.distribution;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host reads what it needs from descriptors (recipes, layer fallback, parameter roles), never from
 * names: its code holds no bundled transform's id or parameter name, so that renaming one, or replacing
 * a bundled plugin by another, needs no change to the host. The names come from the bundled plugins'
 * own descriptors: every Declarative Services component on the class path that is a transform. String
 * literals of the Java sources are checked (comments may give examples); the pipelines the host runs when
 * none is given are configuration, in {@code default-pipelines.properties}.
 */
class HostNamesNoBundledTransformTest {
    private static final Pattern COMPONENT = Pattern.compile("<implementation class=\"([^\"]+)\"");
    private static final Pattern LITERAL = Pattern.compile("\"((?:[^\"\\\\\\n]|\\\\.)*)\"");
    private static final Pattern COMMENT = Pattern.compile("/\\*.*?\\*/|//[^\\n]*", Pattern.DOTALL);

    @Test
    void hostSourcesNameNoBundledTransformOrParameter() throws Exception {
        List<TransformDescriptor> bundled = bundledDescriptors();
        Set<String> ids = new TreeSet<>();
        Set<String> params = new TreeSet<>();
        for (TransformDescriptor d : bundled) {
            ids.add(d.id());
            for (ParamSpec<?> p : d.params()) {
                params.add(p.name());
                params.addAll(p.deprecatedAliases());
            }
        }
        assertTrue(ids.containsAll(Set.of("quantize-static", "quantize-dynamic", "prune", "fp16", "graph-optimize")),
                "the bundled transforms were found: " + ids);
        assertTrue(params.containsAll(Set.of("exclude-nodes", "method", "sparsity")), "and their parameters: " + params);

        List<String> found = new ArrayList<>();
        Path sources = TestModels.root().resolve("host/src/main/java");
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
                String code = COMMENT.matcher(Files.readString(file)).replaceAll(" ");
                Matcher literal = LITERAL.matcher(code);
                while (literal.find()) {
                    String text = literal.group(1);
                    for (String id : ids) {
                        if (namesTransform(text, id)) {
                            found.add(sources.relativize(file) + ": transform " + id + " in \"" + text + "\"");
                        }
                    }
                    for (String param : params) {
                        if (namesParameter(text, param)) {
                            found.add(sources.relativize(file) + ": parameter " + param + " in \"" + text + "\"");
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), found, "host/src/main/java names bundled transforms or parameters; read them from "
                + "descriptors instead (recipes, layerFallback, ParamRole)");
    }

    /**
     * The literal is the id, or names it as a pipeline step: with parameters anywhere
     * ({@code "e.g. 'quantize-static(method=entropy)'"}), or between commas ({@code "a,prune"}).
     */
    private static boolean namesTransform(String text, String id) {
        String quoted = Pattern.quote(id);
        String withParams = "(^|[^a-z0-9-])" + quoted + "\\(";
        String between = "(^|,)\\s*" + quoted + "\\s*(,|$)";
        return text.equals(id) || Pattern.compile(withParams).matcher(text).find()
                || Pattern.compile(between).matcher(text).find();
    }

    /** The literal is the parameter's name, or sets it as a pipeline does: {@code method=entropy}. */
    private static boolean namesParameter(String text, String name) {
        return text.equals(name) || Pattern.compile("(^|[(,])\\s*" + Pattern.quote(name) + "=").matcher(text).find();
    }

    /** The descriptor of every transform component in the bundled plugins on the class path. */
    private static List<TransformDescriptor> bundledDescriptors() throws Exception {
        List<TransformDescriptor> out = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!entry.contains("refinery-plugin-") && !entry.contains("plugins" + File.separator)) {
                continue;
            }
            for (String component : components(Path.of(entry))) {
                Class<?> type = Class.forName(component);
                if (ModelTransform.class.isAssignableFrom(type)) {
                    out.add(((ModelTransform) type.getDeclaredConstructor().newInstance()).descriptor());
                }
            }
        }
        return out;
    }

    /** The implementation classes named by OSGI-INF/*.xml in a jar or a classes folder. */
    private static List<String> components(Path entry) throws IOException {
        List<String> xml = new ArrayList<>();
        if (Files.isDirectory(entry)) {
            Path folder = entry.resolve("OSGI-INF");
            if (Files.isDirectory(folder)) {
                try (Stream<Path> files = Files.list(folder)) {
                    for (Path f : files.filter(f -> f.toString().endsWith(".xml")).toList()) {
                        xml.add(Files.readString(f));
                    }
                }
            }
        } else if (Files.isRegularFile(entry) && entry.toString().endsWith(".jar")) {
            try (JarFile jar = new JarFile(entry.toFile())) {
                for (JarEntry e : jar.stream().filter(e -> e.getName().startsWith("OSGI-INF/")
                        && e.getName().endsWith(".xml")).toList()) {
                    try (InputStream in = jar.getInputStream(e)) {
                        xml.add(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                    }
                }
            }
        }
        List<String> classes = new ArrayList<>();
        for (String text : xml) {
            Matcher m = COMPONENT.matcher(text);
            while (m.find()) {
                classes.add(m.group(1));
            }
        }
        return classes;
    }
}
