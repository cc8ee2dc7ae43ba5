package io.modelrefinery.host.osgi;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import org.osgi.framework.Bundle;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Which plugin jars may load: when a list is configured, a bundle resolves only if its symbolic name and
 * the SHA-256 of its jar are both on it, so that a jar dropped into the plugins folder by anyone else, or
 * altered after review, stays inert. The host's own framework bundles are not subject to it.
 *
 * <p>File format: one {@code SYMBOLIC-NAME SHA256} pair per line; blank lines and {@code #} comments are
 * ignored. {@code sha256sum} prints the digest.
 */
public final class PluginAllowList {
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final PluginAllowList ALL = new PluginAllowList(null);

    /** Allowed digests by symbolic name; {@code null} when every plugin is allowed. */
    private final Map<String, List<String>> digests;
    /** Digests of jars already read, by location, size and time stamp: the resolver asks once per requirement. */
    private final Map<String, String> digestCache = new java.util.concurrent.ConcurrentHashMap<>();

    private PluginAllowList(Map<String, List<String>> digests) {
        this.digests = digests;
    }

    /** Every plugin may load: no list configured. */
    public static PluginAllowList all() {
        return ALL;
    }

    /**
     * Reads a list file.
     *
     * @throws InvalidInputException naming the file and line that is not {@code NAME SHA256}
     */
    public static PluginAllowList read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new InvalidInputException("plugin allow-list not found: " + file);
        }
        Map<String, List<String>> digests = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).replaceFirst("#.*", "").trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\\s+");
            String digest = parts.length == 2 ? parts[1].toLowerCase(Locale.ROOT) : "";
            if (parts.length != 2 || !SHA256.matcher(digest).matches()) {
                throw new InvalidInputException(file + " line " + (i + 1) + ": expected SYMBOLIC-NAME SHA256, found '"
                        + line + "'");
            }
            digests.computeIfAbsent(parts[0], k -> new java.util.ArrayList<>()).add(digest);
        }
        return new PluginAllowList(Collections.unmodifiableMap(digests));
    }

    public boolean restricts() {
        return digests != null;
    }

    /** Why {@code bundle} may not load, or empty when it may (or is one of the host's own bundles). */
    public Optional<String> refusal(Bundle bundle) {
        if (digests == null || !bundle.getLocation().startsWith("file:")) {
            return Optional.empty();
        }
        String name = bundle.getSymbolicName();
        List<String> allowed = digests.get(name);
        if (allowed == null) {
            return Optional.of("not on the plugin allow-list: symbolic name " + name);
        }
        String digest;
        try {
            Path jar = Path.of(URI.create(bundle.getLocation()));
            String key = jar + "|" + Files.size(jar) + "|" + Files.getLastModifiedTime(jar).toMillis();
            digest = digestCache.get(key);
            if (digest == null) {
                digest = ArtifactMeasurer.sha256(jar);
                digestCache.put(key, digest);
            }
        } catch (IOException | RuntimeException e) {
            return Optional.of("not on the plugin allow-list: cannot read its jar to check its digest");
        }
        return refusal(name, digest);
    }

    /**
     * Why a jar with this symbolic name and SHA-256 digest may not load, or empty when it may: the check
     * an upload goes through before it is written to the plugins folder.
     */
    public Optional<String> refusal(String symbolicName, String sha256) {
        if (digests == null) {
            return Optional.empty();
        }
        List<String> allowed = digests.get(symbolicName);
        if (allowed == null) {
            return Optional.of("not on the plugin allow-list: symbolic name " + symbolicName);
        }
        return allowed.contains(sha256) ? Optional.empty()
                : Optional.of("not on the plugin allow-list: " + symbolicName + " with SHA-256 " + sha256 + " is not listed");
    }
}
