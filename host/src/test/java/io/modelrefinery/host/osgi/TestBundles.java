package io.modelrefinery.host.osgi;

import aQute.bnd.osgi.Builder;
import aQute.bnd.osgi.Constants;
import aQute.bnd.osgi.Jar;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.host.osgi.testplugin.VersionedTransform;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/** Builds plugin bundles from test classes with bnd, as a plugin's own build would. */
public final class TestBundles {
    private TestBundles() {
    }

    /** The test plugin as a bundle of {@code version}, with optional extra manifest headers. */
    public static byte[] versioned(String version, Map<String, String> extraHeaders) throws Exception {
        return bundle("test.versioned", version, VersionedTransform.class, extraHeaders);
    }

    /**
     * The test plugin built as a plugin for another api major version would be: it imports the api packages
     * in {@code [major.0,major+1)}.
     */
    public static byte[] forApiMajor(int major) throws Exception {
        return bundle("test.versioned", "1.0.0", VersionedTransform.class, Map.of(Constants.IMPORT_PACKAGE,
                "io.modelrefinery.api.*;version=\"[" + major + ".0," + (major + 1) + ")\",*"));
    }

    /**
     * A bundle of every class in {@code packageOf}'s package, with its Declarative Services components.
     *
     * @param extraHeaders bnd instructions or manifest headers to add or override
     */
    public static byte[] bundle(String symbolicName, String version, Class<?> packageOf, Map<String, String> extraHeaders)
            throws Exception {
        try (Builder builder = new Builder()) {
            builder.setProperty(Constants.BUNDLE_SYMBOLICNAME, symbolicName);
            builder.setProperty(Constants.BUNDLE_VERSION, version);
            builder.setProperty(Constants.PRIVATE_PACKAGE, packageOf.getPackageName());
            builder.setProperty(Constants.DSANNOTATIONS, "*");
            extraHeaders.forEach(builder::setProperty);
            builder.addClasspath(codeSource(packageOf));
            builder.addClasspath(codeSource(ModelTransform.class));
            Jar jar = builder.build();
            if (!builder.isOk()) {
                throw new IllegalStateException("bnd failed: " + builder.getErrors());
            }
            Path temp = Files.createTempFile("bundle", ".jar");
            try {
                jar.write(temp.toFile());
                return Files.readAllBytes(temp);
            } finally {
                Files.delete(temp);
            }
        }
    }

    /** Puts a jar into the plugins folder the recommended way: copy under a hidden name, then rename. */
    public static Path drop(Path pluginsDir, String fileName, byte[] jar) throws IOException {
        Path hidden = pluginsDir.resolve("." + fileName + ".part");
        Files.write(hidden, jar);
        return Files.move(hidden, pluginsDir.resolve(fileName), StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
    }

    private static File codeSource(Class<?> type) throws URISyntaxException {
        return new File(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }
}
