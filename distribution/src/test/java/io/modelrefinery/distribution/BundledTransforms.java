package io.modelrefinery.distribution;

import io.modelrefinery.api.plugin.ModelTransform;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Every transform the bundled plugins register: the Declarative Services components on the test class
 * path (the plugin modules) that are transforms, one instance each, sorted by id. Found from the plugins'
 * own component descriptions, so that a new bundled transform is covered without a change here.
 */
final class BundledTransforms {
    private static final Pattern COMPONENT = Pattern.compile("<implementation class=\"([^\"]+)\"");

    private BundledTransforms() {
    }

    static List<ModelTransform> all() throws Exception {
        List<ModelTransform> out = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!entry.contains("refinery-plugin-") && !entry.contains("plugins" + File.separator)) {
                continue;
            }
            for (String component : components(Path.of(entry))) {
                Class<?> type = Class.forName(component);
                if (ModelTransform.class.isAssignableFrom(type)) {
                    out.add((ModelTransform) type.getDeclaredConstructor().newInstance());
                }
            }
        }
        out.sort(Comparator.comparing(t -> t.descriptor().id()));
        return out;
    }

    /** The implementation classes named by OSGI-INF/*.xml in a jar or a classes folder. */
    private static List<String> components(Path entry) throws IOException {
        List<String> xml = new ArrayList<>();
        if (Files.isDirectory(entry)) {
            Path folder = entry.resolve("OSGI-INF");
            if (Files.isDirectory(folder)) {
                try (Stream<Path> files = Files.list(folder)) {
                    for (Path f : files.filter(f -> f.toString().endsWith(".xml")).sorted().toList()) {
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
