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
        try (Builder builder = new Builder()) {
            builder.setProperty(Constants.BUNDLE_SYMBOLICNAME, "test.versioned");
            builder.setProperty(Constants.BUNDLE_VERSION, version);
            builder.setProperty(Constants.PRIVATE_PACKAGE, VersionedTransform.class.getPackageName());
            builder.setProperty(Constants.DSANNOTATIONS, "*");
            extraHeaders.forEach(builder::setProperty);
            builder.addClasspath(codeSource(VersionedTransform.class));
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
