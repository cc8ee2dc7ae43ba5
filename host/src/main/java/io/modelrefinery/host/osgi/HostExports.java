package io.modelrefinery.host.osgi;

import io.modelrefinery.api.InvalidInputException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.jar.Manifest;

/**
 * The packages the host's class path offers to plugin bundles through the system bundle: the api's
 * packages, with the versions its bundle manifest declares, and the libraries the api uses. Plugins
 * then share the host's classes, so a {@code ModelTransform} from a bundle is the host's
 * {@code ModelTransform}.
 */
final class HostExports {
    private HostExports() {
    }

    /** The value for {@code org.osgi.framework.system.packages.extra}. */
    static String systemPackagesExtra() {
        return apiExports() + "," + libraryExports();
    }

    /** The api bundle's Export-Package header, from the copy of its manifest the api build keeps. */
    static String apiExports() {
        try (InputStream in = InvalidInputException.class.getResourceAsStream("MANIFEST.MF")) {
            if (in == null) {
                throw new IllegalStateException("the refinery-api manifest is missing from the class path");
            }
            String exports = new Manifest(in).getMainAttributes().getValue("Export-Package");
            if (exports == null) {
                throw new IllegalStateException("the refinery-api manifest has no Export-Package");
            }
            return exports;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String libraryExports() {
        Properties properties = new Properties();
        try (InputStream in = HostExports.class.getResourceAsStream("host-exports.properties")) {
            properties.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return properties.getProperty("exports");
    }
}
