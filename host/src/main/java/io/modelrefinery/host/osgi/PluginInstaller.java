package io.modelrefinery.host.osgi;

import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.api.InvalidInputException;
import org.osgi.framework.Bundle;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.jar.JarInputStream;
import java.util.jar.Manifest;
import java.util.regex.Pattern;

/**
 * Adds and removes plugin jars on request ({@code PUT /plugins/{file}}, {@code DELETE /plugins/{id}}) the
 * way an operator would by hand: an upload is checked (a bundle, built for this host's api major version,
 * allowed by the allow-list, not a second copy of an installed bundle), written under a hidden name and
 * renamed into the plugins folder, where FileInstall installs it; a removal deletes the jar. Each call then
 * waits, up to a limit, until the framework has acted, so the answer can tell the plugin's new state.
 *
 * <p>Methods block (file system, waiting): call them off any event loop.
 */
public final class PluginInstaller {
    /** Names an upload may have: a plain {@code .jar} file name, no folders, no leading dot. */
    public static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,199}\\.jar");

    private final PluginRegistry registry;
    private final Duration settleTimeout;

    /** Refused uploads: the jar is not written. */
    public static final class RefusedException extends InvalidInputException {
        private static final long serialVersionUID = 1L;

        RefusedException(String message) {
            super(message);
        }
    }

    /** An upload that collides with a bundle already installed from another file. */
    public static final class ConflictException extends InvalidInputException {
        private static final long serialVersionUID = 1L;

        ConflictException(String message) {
            super(message);
        }
    }

    /**
     * What an upload did.
     *
     * @param plugin the jar's state once the framework acted, or when the wait ran out
     * @param replaced true if a jar of that name was there before
     */
    public record Installed(PluginInfo plugin, boolean replaced) {
    }

    /** @param settleTimeout how long to wait for the framework to pick up a change before answering */
    public PluginInstaller(PluginRegistry registry, Duration settleTimeout) {
        this.registry = registry;
        this.settleTimeout = settleTimeout;
    }

    /**
     * Checks {@code jar} and puts it into the plugins folder as {@code fileName}, replacing a jar of that
     * name (an upgrade).
     *
     * @throws InvalidInputException for a bad file name or a jar that is not a bundle
     * @throws RefusedException for a bundle built for another api major version, or one the allow-list refuses
     * @throws ConflictException if the same bundle is installed from another file
     */
    public Installed install(String fileName, byte[] jar) throws IOException, InterruptedException {
        if (fileName == null || !FILE_NAME.matcher(fileName).matches()) {
            throw new InvalidInputException("plugin file name must be a plain name ending in .jar (letters, digits, "
                    + "'.', '_', '-'; no leading dot): '" + fileName + "'");
        }
        Manifest manifest = manifest(jar);
        String symbolicName = manifest == null ? null : manifest.getMainAttributes().getValue("Bundle-SymbolicName");
        if (symbolicName == null) {
            throw new InvalidInputException("not an OSGi bundle: " + fileName + " has no Bundle-SymbolicName in its manifest");
        }
        symbolicName = symbolicName.split(";", 2)[0].strip();
        Optional<String> incompatible = registry.api().problem(manifest.getMainAttributes().getValue("Import-Package"));
        if (incompatible.isPresent()) {
            throw new RefusedException(fileName + " (" + symbolicName + ") is " + incompatible.get());
        }
        Optional<String> refused = registry.allowList().refusal(symbolicName, sha256(jar));
        if (refused.isPresent()) {
            throw new RefusedException(fileName + " is " + refused.get());
        }
        for (PluginInfo other : registry.plugins()) {
            if (symbolicName.equals(other.symbolicName()) && !other.file().equals(fileName)) {
                throw new ConflictException("bundle " + symbolicName + " is already installed from " + other.file()
                        + ": upload it as " + other.file() + " to replace it, or delete that first");
            }
        }
        Path dir = registry.pluginsDir();
        Path target = dir.resolve(fileName);
        boolean replaced = Files.exists(target);
        long written = System.currentTimeMillis();
        // Written under a hidden temporary name, which FileInstall ignores, then renamed into place at once.
        AtomicFiles.write(target, jar);
        return new Installed(awaitInstalled(target, written), replaced);
    }

    /**
     * Deletes the jar whose file name or bundle symbolic name is {@code id} and waits until its bundle is gone.
     *
     * @return the plugin as it was, or empty if no jar in the folder has that name
     */
    public Optional<PluginInfo> remove(String id) throws IOException, InterruptedException {
        Optional<PluginInfo> found = registry.plugins().stream()
                .filter(p -> p.file().equals(id) || id.equals(p.symbolicName()))
                .findFirst();
        if (found.isEmpty()) {
            return found;
        }
        Path jar = registry.pluginsDir().resolve(found.get().file());
        Files.deleteIfExists(jar);
        long deadline = System.nanoTime() + settleTimeout.toNanos();
        while (registry.bundleFor(jar) != null && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        return found;
    }

    /** Waits until FileInstall has installed (or updated) the jar and it settled, or the time ran out. */
    private PluginInfo awaitInstalled(Path jar, long writtenAtMillis) throws InterruptedException {
        long deadline = System.nanoTime() + settleTimeout.toNanos();
        String file = jar.getFileName().toString();
        while (true) {
            Bundle bundle = registry.bundleFor(jar);
            boolean current = bundle != null && bundle.getLastModified() >= writtenAtMillis;
            PluginInfo info = registry.plugins().stream().filter(p -> p.file().equals(file)).findFirst()
                    .orElseThrow(() -> new IllegalStateException(file + " vanished from the plugins folder"));
            if (current && info.state() != PluginInfo.State.STARTING || System.nanoTime() > deadline) {
                return info;
            }
            Thread.sleep(50);
        }
    }

    private static Manifest manifest(byte[] jar) {
        try (JarInputStream in = new JarInputStream(new ByteArrayInputStream(jar))) {
            Manifest first = in.getManifest();
            if (first != null) {
                return first;
            }
            // JarInputStream finds the manifest only among the first entries; look through the rest.
            for (var entry = in.getNextJarEntry(); entry != null; entry = in.getNextJarEntry()) {
                if (entry.getName().equalsIgnoreCase("META-INF/MANIFEST.MF")) {
                    return new Manifest(in);
                }
            }
            return null;
        } catch (IOException e) {
            throw new InvalidInputException("not a readable jar: " + e.getMessage());
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
